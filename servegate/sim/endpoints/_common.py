"""Request fields shared by chat and completions, validated strictly but open to extras.

OpenAI clients send many fields the simulator has no use for (temperature, top_p, user...),
so unknown fields are accepted and ignored; the fields it does use must have the right type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from servegate.sim.oai import ApiError

if TYPE_CHECKING:
    from servegate.sim.app import SimApp


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class StreamOptions(ApiModel):
    include_usage: bool = False
    continuous_usage_stats: bool = False


class GenFields(ApiModel):
    model: str
    max_tokens: int | None = Field(None, ge=1)
    min_tokens: int = Field(0, ge=0)
    ignore_eos: bool = False
    stream: bool = False
    stream_options: StreamOptions | None = None
    seed: int | None = Field(None, ge=0)
    n: int = Field(1, ge=1)

    def check(self, app: SimApp) -> None:
        if not app.settings.serves(self.model):
            raise ApiError(404, f"The model `{self.model}` does not exist.", "model")
        if self.n != 1:
            raise ApiError(400, "n: only n=1 is supported by the simulator", "n")
        if self.stream_options is not None and not self.stream:
            raise ApiError(400, "stream_options: only allowed when stream is true", "stream")

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage
