"""The Ray Serve deployment that serves the simulator, and its application builder.

serveConfigV2 names ``servegate.rayserve.app:build`` as an application's ``import_path``;
Serve calls :func:`build` with the application's ``args``: ``deployment`` (the deployment's
name in Serve's status) and the simulator's settings (``model_name``, latencies, ...). Each
replica runs its own simulator (:class:`~servegate.rayserve.backend.SimBackend`) and answers
every path under the application's route prefix with it, so Serve's HTTP proxy speaks the
OpenAI API. ``ray_actor_options`` (GPUs, CPUs), replicas and autoscaling come from the
``deployments`` section of the same config.

``GET /-/servegate/placement`` answers where Ray placed the replica: node, actor, the GPU ids
Ray assigned it (``ray.get_gpu_ids()``) and the resources it was given.
"""

from __future__ import annotations

from typing import Any

import ray
from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from servegate.rayserve import PLACEMENT_PATH
from servegate.rayserve.backend import SimBackend


class Simulator:
    """One replica: a simulator child process and the relay to it."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.backend = SimBackend(settings).start()

    def placement(self) -> dict[str, Any]:
        ctx = ray.get_runtime_context()
        replica = serve.get_replica_context()
        return {
            "app": replica.app_name,
            "deployment": replica.deployment,
            "replica": replica.replica_tag,
            "model": self.backend.model,
            "node_id": ctx.get_node_id(),
            "actor_id": ctx.get_actor_id(),
            "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
            "assigned_resources": ctx.get_assigned_resources(),
        }

    async def __call__(self, request: Request) -> Response:
        path = request.url.path
        if path.endswith(PLACEMENT_PATH):
            return JSONResponse(self.placement())
        up = await self.backend.forward(
            request.method, path, request.url.query, request.headers, await request.body()
        )
        if up.chunks is not None:
            return StreamingResponse(up.chunks, status_code=up.status, headers=up.headers)
        return Response(up.body, status_code=up.status, headers=up.headers)

    async def check_health(self) -> None:
        """Serve's health check: the simulator process must still run."""
        sim = self.backend.sim
        if sim.proc is None or sim.proc.poll() is not None:
            code = None if sim.proc is None else sim.proc.returncode
            last = "; ".join(sim.stderr_lines[-3:]) or "no stderr"
            raise RuntimeError(f"simulator of {self.backend.model} exited ({code}): {last}")


def build(args: dict[str, Any]) -> Any:
    """Serve's application builder: ``args`` = ``deployment`` + simulator settings."""
    settings = dict(args)
    name = str(settings.pop("deployment", "Simulator"))
    return serve.deployment(Simulator, name=name).bind(settings)
