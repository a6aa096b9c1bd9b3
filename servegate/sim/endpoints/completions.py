"""POST /v1/completions. One prompt per request (a string, or a list of token ids)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from servegate.sim.endpoints._common import GenFields
from servegate.sim.gen import GenSpec, generate
from servegate.sim.http import Request, Responder
from servegate.sim.oai import ApiError, parse_body
from servegate.sim.tokens import count_prompt, text_key

if TYPE_CHECKING:
    from servegate.sim.app import SimApp


class CompletionRequest(GenFields):
    prompt: str | list[int] | list[str] | list[list[int]]


def single_prompt(prompt: str | list[int] | list[str] | list[list[int]]) -> str | list[int]:
    """Unwrap a one-element batch; batches of several prompts are refused."""
    if isinstance(prompt, str):
        return prompt
    if prompt and isinstance(prompt[0], (str, list)):
        if len(prompt) != 1:
            raise ApiError(400, "prompt: batched prompts are not supported", "prompt")
        inner = prompt[0]
        assert isinstance(inner, (str, list))
        return inner
    return [int(t) for t in prompt if isinstance(t, int)]


async def handle(app: SimApp, req: Request, resp: Responder) -> None:
    body = parse_body(req.body, CompletionRequest)
    body.check(app)
    prompt = single_prompt(body.prompt)
    n_prompt = count_prompt(prompt)
    if n_prompt == 0:
        raise ApiError(400, "prompt: must not be empty", "prompt")
    seed = app.settings.seed if body.seed is None else body.seed
    text = prompt if isinstance(prompt, str) else ",".join(map(str, prompt))
    spec = GenSpec(
        kind="completion",
        prompt_tokens=n_prompt,
        key=text_key(seed, [text]),
        max_tokens=body.max_tokens,
        min_tokens=body.min_tokens,
        ignore_eos=body.ignore_eos,
        stream=body.stream,
        include_usage=body.include_usage,
        model=body.model,
    )
    await generate(app, spec, req, resp)
