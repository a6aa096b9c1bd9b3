"""POST /v1/chat/completions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from servegate.sim.endpoints._common import ApiModel, GenFields
from servegate.sim.gen import GenSpec, generate
from servegate.sim.http import Request, Responder
from servegate.sim.oai import parse_body
from servegate.sim.tokens import count_chat, text_key

if TYPE_CHECKING:
    from servegate.sim.app import SimApp


class ChatMessage(ApiModel):
    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if self.content is None or isinstance(self.content, str):
            return self.content or ""
        return " ".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")


class ChatRequest(GenFields):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)


async def handle(app: SimApp, req: Request, resp: Responder) -> None:
    body = parse_body(req.body, ChatRequest)
    body.check(app)
    pairs = [(m.role, m.text()) for m in body.messages]
    seed = app.settings.seed if body.seed is None else body.seed
    spec = GenSpec(
        kind="chat",
        prompt_tokens=count_chat(pairs),
        key=text_key(seed, [p for pair in pairs for p in pair]),
        max_tokens=body.max_completion_tokens or body.max_tokens,
        min_tokens=body.min_tokens,
        ignore_eos=body.ignore_eos,
        stream=body.stream,
        include_usage=body.include_usage,
        model=body.model,
    )
    await generate(app, spec, req, resp)
