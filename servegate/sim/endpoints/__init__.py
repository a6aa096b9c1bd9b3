"""One module per OpenAI endpoint (plus health and metrics); ``routes()`` maps paths."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from servegate.sim.app import Endpoint


def routes() -> dict[str, tuple[str, Endpoint]]:
    from servegate.sim.endpoints import (
        chat,
        completions,
        embeddings,
        health,
        metrics,
        models,
        tokenize,
    )

    return {
        "/v1/models": ("GET", models.handle),
        "/v1/chat/completions": ("POST", chat.handle),
        "/v1/completions": ("POST", completions.handle),
        "/v1/embeddings": ("POST", embeddings.handle),
        "/tokenize": ("POST", tokenize.handle),
        "/health": ("GET", health.handle),
        "/metrics": ("GET", metrics.handle),
    }
