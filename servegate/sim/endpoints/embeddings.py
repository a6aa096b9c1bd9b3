"""POST /v1/embeddings: unit vectors derived from the input text, so equal inputs embed
equally. ``encoding_format: base64`` (the openai client's default) is little-endian float32.
Faults apply as for generation, except that a stall delays the whole body."""

from __future__ import annotations

import asyncio
import base64
import math
import random
import struct
import time
from typing import TYPE_CHECKING, Literal

import orjson
from pydantic import Field

from servegate.sim.endpoints._common import ApiModel
from servegate.sim.faults import FaultKind, plan_fault, send_whole
from servegate.sim.http import Request, Responder
from servegate.sim.oai import ApiError, error_body, parse_body
from servegate.sim.tokens import count_prompt, text_key

if TYPE_CHECKING:
    from servegate.sim.app import SimApp


class EmbeddingRequest(ApiModel):
    model: str
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)


def embed(key: int, dim: int) -> list[float]:
    rng = random.Random(key)
    v = [rng.gauss(0.0, 1.0) for _ in range(dim)]
    norm = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / norm for x in v]


def _inputs(raw: str | list[str] | list[int] | list[list[int]]) -> list[str | list[int]]:
    if isinstance(raw, str):
        return [raw]
    if raw and isinstance(raw[0], int):
        return [[t for t in raw if isinstance(t, int)]]
    return [x for x in raw if isinstance(x, (str, list))]


async def handle(app: SimApp, req: Request, resp: Responder) -> None:
    s = app.settings
    body = parse_body(req.body, EmbeddingRequest)
    if not s.serves(body.model):
        raise ApiError(404, f"The model `{body.model}` does not exist.", "model")
    items = _inputs(body.input)
    if not items or any(count_prompt(x) == 0 for x in items):
        raise ApiError(400, "input: must not be empty", "input")
    dim = s.embedding_dim if body.dimensions is None else body.dimensions
    if dim > s.embedding_dim:
        raise ApiError(400, f"dimensions: at most {s.embedding_dim}", "dimensions")
    fault = plan_fault(s, app.next_index(), 1)
    if fault is not None and fault.kind is FaultKind.HTTP_5XX:
        status = s.fault_http_5xx_status
        resp.send(status, error_body(status, f"injected fault: HTTP {status}"))
        return
    if fault is not None and fault.kind is FaultKind.SLOW_HEADERS:
        await asyncio.sleep(fault.duration)
    tokens = sum(count_prompt(x) for x in items)
    await asyncio.sleep(s.prefill_s_per_token * tokens)
    data = []
    for i, item in enumerate(items):
        text = item if isinstance(item, str) else ",".join(map(str, item))
        vec = embed(text_key(s.seed, [text]), dim)
        emb: list[float] | str = vec
        if body.encoding_format == "base64":
            emb = base64.b64encode(struct.pack(f"<{dim}f", *vec)).decode("ascii")
        data.append({"object": "embedding", "index": i, "embedding": emb})
    app.metrics.prompt_tokens += tokens
    out: dict[str, object] = {
        "id": f"embd-sim{s.seed:x}",
        "object": "list",
        "created": app.created,
        "model": s.model_name,
        "data": data,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens, "completion_tokens": 0},
    }
    if app.timestamps_for(req):
        out["servegate"] = {"recv_ns": req.recv_ns, "emit_ns": time.perf_counter_ns()}
    send_whole(resp, orjson.dumps(out), fault)
