"""The simulator application: shared state, routing, and the latency model it runs."""

from __future__ import annotations

import hmac
import sys
import time
from collections.abc import Awaitable, Callable

from servegate.sim.dist import Dist
from servegate.sim.driver import BatchDriver, DistDriver
from servegate.sim.engine import BatchEngine, EngineConfig, Seq
from servegate.sim.http import Request, Responder
from servegate.sim.metrics import LiveState, SimMetrics
from servegate.sim.modelcache import plan_start
from servegate.sim.oai import ApiError, error_body
from servegate.sim.settings import SimSettings

Endpoint = Callable[["SimApp", Request, Responder], Awaitable[None]]


class SimApp:
    def __init__(self, settings: SimSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = s = settings
        self.created = int(time.time())
        self._clock = clock
        # Download (skipped on a cache hit) then load; serve() calls complete_download when
        # the download time is up. Loaded needs both: the load time has passed and the
        # download is recorded, whichever of the two a busy event loop gets to last.
        self.start_plan = plan = plan_start(
            s.model_cache, s.model_name, s.download_delay_s, s.startup_delay_s
        )
        self._ready_at = clock() + plan.total_s
        self._downloading = plan.marker is not None and not plan.cache_hit
        self._index = 0
        # Every response names the version, so a client sees which rollout step served it.
        self.version_header = (
            b"x-servegate-model-version: %s\r\n" % s.model_version.encode()
            if s.model_version
            else b""
        )
        self.metrics = SimMetrics(
            s.model_name, s.max_num_seqs, s.gpu_weights_mib, s.gpu_kv_mib, self._live
        )
        self.driver: BatchDriver | DistDriver
        if s.latency_model == "batching":
            cfg = EngineConfig(
                s.max_num_seqs,
                s.kv_cache_tokens,
                s.prefill_s_per_token,
                s.decode_base_s,
                s.decode_per_seq_s,
            )
            self.driver = BatchDriver(BatchEngine(cfg), self.metrics)
        else:
            lo, hi = s.latency_min_s, s.latency_max_s
            self.driver = DistDriver(
                s.max_num_seqs,
                s.kv_cache_tokens,
                Dist(s.ttft_dist, s.ttft_mean_s, s.ttft_stdev_s, lo, hi),
                Dist(s.itl_dist, s.itl_mean_s, s.itl_stdev_s, lo, hi),
                s.seed,
                self.metrics,
            )
        from servegate.sim.endpoints import routes

        self.routes: dict[str, tuple[str, Endpoint]] = routes()

    def _live(self) -> LiveState:
        return self.driver.live()

    @property
    def loaded(self) -> bool:
        return not self._downloading and self._clock() >= self._ready_at

    def complete_download(self) -> None:
        """The simulated download has ended: write the cache marker (see modelcache)."""
        self.start_plan.complete_download(self.settings.model_name)
        self._downloading = False

    def next_index(self) -> int:
        """Number of the next generation request; faults are keyed on it."""
        i = self._index
        self._index += 1
        return i

    def timestamps_for(self, req: Request) -> bool:
        flag = req.headers.get("x-servegate-timestamps", "").strip().lower()
        return self.settings.timestamps or flag in ("1", "true", "yes")

    def abort(self, seq: Seq, reason: str) -> None:
        """Stop generating for ``seq`` (client gone, injected truncation); idempotent."""
        if seq.counted:
            return
        self.driver.cancel(seq)
        self.finished(seq, reason)

    def finished(self, seq: Seq, reason: str) -> None:
        if seq.counted:
            return
        seq.counted = True
        e2e = time.perf_counter() - seq.arrival
        self.metrics.request_done(reason, seq.prompt_tokens, seq.generated, e2e)
        if self.settings.log_requests:
            print(
                f"sim: done reason={reason} prompt={seq.prompt_tokens} "
                f"output={seq.generated} e2e={e2e:.4f}s",
                file=sys.stderr,
                flush=True,
            )

    def _authorize(self, req: Request) -> None:
        """vLLM's --api-key check: the exact bearer token, compared in constant time."""
        given = req.headers.get("authorization", "").encode()
        wanted = f"Bearer {self.settings.api_key}".encode()
        if not hmac.compare_digest(given, wanted):
            raise ApiError(401, "Unauthorized")

    async def handle(self, req: Request, resp: Responder) -> None:
        entry = self.routes.get(req.path)
        resp.fixed_headers = self.version_header
        try:
            if entry is None:
                raise ApiError(404, f"no route for {req.path}")
            method, endpoint = entry
            if req.method != method:
                raise ApiError(405, f"{req.path} accepts {method}, not {req.method}")
            if self.settings.api_key and req.path.startswith("/v1/"):
                self._authorize(req)
            if not self.loaded and req.path not in ("/health", "/metrics"):
                raise ApiError(503, "model is loading")
            await endpoint(self, req, resp)
        except ApiError as err:
            if not resp.done:
                resp.send(err.status, error_body(err.status, err.message, err.param))
