"""Every knob of the simulator, and how flags, environment and a YAML file combine.

Precedence is flags > environment (``SERVEGATE_SIM_<FIELD>``) > ``--config`` file > defaults.
The model is flat on purpose: one field is one flag and one environment variable, so a
container manifest can set any knob with ``env:`` alone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from servegate.config.base import StrictModel, field_path, load_yaml_file, one_line
from servegate.errors import ConfigError

ENV_PREFIX = "SERVEGATE_SIM_"
# First stdout line of a listening simulator; SimProcess reads the port from it.
READY_PREFIX = "servegate-sim listening on http://"

DistKind = Literal["constant", "normal", "lognormal"]


class SimSettings(StrictModel):
    """Knobs of ``servegate sim``. Times are seconds; rates are probabilities per request."""

    # --- serving -------------------------------------------------------------------------
    host: str = Field(
        "127.0.0.1",
        description="Address to bind: loopback unless told otherwise; 0.0.0.0 listens on every "
        "interface (the simulator image and the manifests' sim overlays set it).",
    )
    port: int = Field(8000, ge=0, le=65535, description="TCP port; 0 picks a free one.")
    model_name: str = Field("sim-model", min_length=1, description="Served model id.")
    lora_modules: str = Field(
        "",
        pattern=r"^([A-Za-z0-9._/:-]+(=[^,\s]+)?(,[A-Za-z0-9._/:-]+(=[^,\s]+)?)*)?$",
        description="LoRA adapters served besides the base model, as vLLM's --lora-modules: "
        "comma-separated NAME or NAME=PATH (the path is only shown in /v1/models).",
    )
    seed: int = Field(0, ge=0, description="Seed of output text, lengths, latencies, faults.")
    startup_delay_s: float = Field(0.0, ge=0, description="Simulated model load: /health 503.")
    download_delay_s: float = Field(
        0.0, ge=0, description="Simulated model download before the load, unless cached."
    )
    model_cache: str | None = Field(
        None, description="Model cache directory: a start finding the model there skips download."
    )
    model_version: str = Field(
        "",
        max_length=128,
        pattern=r"^[A-Za-z0-9._+:-]*$",
        description="Version label sent as X-Servegate-Model-Version and in /v1/models "
        "(rollout and canary checks); empty: not sent.",
    )
    drain_s: float = Field(
        0.0,
        ge=0,
        description="On SIGTERM, let in-flight requests finish for up to this long "
        "(0: cut them off at once).",
    )
    timestamps: bool = Field(False, description="Add server timestamps to every response.")
    log_requests: bool = Field(False, description="Print one line per finished request.")
    api_key: str = Field(
        "",
        description="Like vLLM's --api-key: /v1/* requests need 'Authorization: Bearer KEY' "
        "(401 otherwise); empty: no check. Prefer the environment variable, which stays off "
        "the command line.",
    )

    # --- continuous batching ----------------------------------------------------------------
    latency_model: Literal["batching", "distribution"] = Field(
        "batching", description="batching: step-based engine; distribution: TTFT/ITL draws."
    )
    max_num_seqs: int = Field(256, gt=0, description="Most sequences decoded at once.")
    kv_cache_tokens: int = Field(
        262144, gt=0, description="KV-cache capacity in tokens (prompt+output reserved)."
    )
    max_model_len: int = Field(8192, gt=0, description="Largest prompt+output per request.")
    prefill_s_per_token: float = Field(0.0001, ge=0, description="Prefill time per prompt token.")
    decode_base_s: float = Field(0.01, ge=0, description="Decode step time at batch size 0.")
    decode_per_seq_s: float = Field(0.0001, ge=0, description="Extra step time per running seq.")

    # --- plain latency model ("distribution") ---------------------------------------------
    ttft_dist: DistKind = Field("constant", description="Distribution of TTFT.")
    ttft_mean_s: float = Field(0.05, ge=0, description="Mean TTFT.")
    ttft_stdev_s: float = Field(0.0, ge=0, description="Stdev of TTFT (normal/lognormal).")
    itl_dist: DistKind = Field("constant", description="Distribution of inter-token latency.")
    itl_mean_s: float = Field(0.01, ge=0, description="Mean inter-token latency.")
    itl_stdev_s: float = Field(0.0, ge=0, description="Stdev of ITL (normal/lognormal).")
    latency_min_s: float = Field(0.0, ge=0, description="Lower clip of TTFT/ITL draws.")
    latency_max_s: float = Field(60.0, gt=0, description="Upper clip of TTFT/ITL draws.")

    # --- output length when EOS is allowed ------------------------------------------------
    default_max_tokens: int = Field(256, gt=0, description="max_tokens when a request omits it.")
    output_len_mean: float = Field(128.0, gt=0, description="Mean natural length (until EOS).")
    output_len_stdev: float = Field(32.0, ge=0, description="Stdev of the natural length.")
    gpu_weights_mib: float = Field(16000.0, ge=0, description="DCGM FB used with no KV in use.")
    gpu_kv_mib: float = Field(60000.0, ge=0, description="DCGM FB added at a full KV cache.")
    embedding_dim: int = Field(384, gt=0, le=65536, description="Embedding vector size.")

    # --- faults ---------------------------------------------------------------------------
    fault_http_5xx_rate: float = Field(0.0, ge=0, le=1, description="Share answered with 5xx.")
    fault_http_5xx_status: int = Field(500, ge=500, le=599, description="Status of that 5xx.")
    fault_stall_rate: float = Field(0.0, ge=0, le=1, description="Share stalling mid-stream.")
    fault_stall_s: float = Field(5.0, ge=0, description="Length of a stall.")
    fault_truncate_rate: float = Field(0.0, ge=0, le=1, description="Share closed w/o [DONE].")
    fault_malformed_rate: float = Field(0.0, ge=0, le=1, description="Share with a bad SSE event.")
    fault_slow_headers_rate: float = Field(0.0, ge=0, le=1, description="Share with late headers.")
    fault_slow_headers_s: float = Field(2.0, ge=0, description="Delay before the status line.")

    @property
    def adapters(self) -> dict[str, str]:
        """LoRA adapter name -> path (the name when no path was given)."""
        out = {}
        for entry in filter(None, self.lora_modules.split(",")):
            name, _, path = entry.partition("=")
            out[name] = path or name
        return out

    def serves(self, model: str) -> bool:
        return model == self.model_name or model in self.adapters

    @model_validator(mode="after")
    def _check(self) -> SimSettings:
        if self.latency_min_s > self.latency_max_s:
            raise ValueError("latency_min_s must not exceed latency_max_s")
        total = (
            self.fault_http_5xx_rate
            + self.fault_stall_rate
            + self.fault_truncate_rate
            + self.fault_malformed_rate
            + self.fault_slow_headers_rate
        )
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault rates add up to {total:g}; at most one fault per request")
        if self.max_model_len > self.kv_cache_tokens:
            raise ValueError("max_model_len must not exceed kv_cache_tokens")
        return self


def env_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    """Pick ``SERVEGATE_SIM_*`` variables; an unknown name is an error, not a silent no-op."""
    out: dict[str, str] = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name not in SimSettings.model_fields:
            raise ConfigError(f"environment: {key}: unknown simulator setting")
        out[name] = value
    return out


def _file_values(path: Path) -> dict[str, Any]:
    # Validate the file alone first, so its errors carry file and line numbers.
    load_yaml_file(path, SimSettings)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def load_settings(
    config: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> SimSettings:
    """Merge defaults < file < environment < flags. Raises :class:`ConfigError`."""
    merged: dict[str, Any] = {}
    if config is not None:
        merged.update(_file_values(Path(config)))
    env = env_overrides(os.environ if environ is None else environ)
    merged.update(env)
    merged.update({k: v for k, v in (flags or {}).items() if v is not None})
    try:
        return SimSettings.model_validate(merged)
    except ValidationError as exc:
        sources = {k: f"{ENV_PREFIX}{k.upper()}" for k in env}
        sources.update({k: f"--{k.replace('_', '-')}" for k in flags or {} if k in merged})
        lines = []
        for err in exc.errors():
            field = field_path(err["loc"]) or "(settings)"
            where = sources.get(field, str(config) if config is not None else "settings")
            lines.append(f"{where}: {field}: {one_line(err['msg'])}")
        raise ConfigError("; ".join(lines)) from None


__all__ = ["ENV_PREFIX", "READY_PREFIX", "SimSettings", "env_overrides", "load_settings"]
