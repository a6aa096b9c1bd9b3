"""Prometheus instant queries, through prometheus-api-client: the one way servegate asks.

A query that fails (unreachable server, an error answer, a malformed body) raises
:class:`PrometheusError` with one line naming the server and the query; an empty result is
an empty list, and NaN samples (a rate over no completed requests) are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from servegate.errors import UserError

Sample = tuple[dict[str, str], float]


class PrometheusError(UserError):
    """A Prometheus query that could not be answered."""


class Prometheus:
    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        from prometheus_api_client import PrometheusConnect

        self.url = url.rstrip("/")
        # No retries: callers poll with their own deadline (servegate.wait).
        self._api = PrometheusConnect(
            url=self.url, disable_ssl=True, timeout=timeout_s, retry=_no_retry()
        )

    def query(self, expr: str, at_s: float | None = None) -> list[Sample]:
        """The instant vector of ``expr`` (at ``at_s``, unix seconds, or now)."""
        from prometheus_api_client.exceptions import PrometheusApiClientException
        from requests.exceptions import RequestException

        params = None if at_s is None else {"time": f"{at_s:.3f}"}
        try:
            result = self._api.custom_query(expr, params=params)
            out = [(dict(r["metric"]), float(r["value"][1])) for r in result]
        except (
            PrometheusApiClientException,
            RequestException,
            OSError,
            ValueError,
            KeyError,
            IndexError,
            TypeError,
        ) as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            raise PrometheusError(
                f"Prometheus {self.url}: query {expr!r} failed: {first}"
            ) from None
        return [(m, v) for m, v in out if not math.isnan(v)]

    def scalar(self, expr: str) -> float | None:
        """The first sample's value, or None when the query has no (non-NaN) result."""
        rows = self.query(expr)
        return rows[0][1] if rows else None

    def by_label(self, expr: str, label: str) -> dict[str, float]:
        """The samples as {value of ``label``: value}."""
        return {m.get(label, ""): v for m, v in self.query(expr)}


def vllm_scrape(prom: Prometheus, selector: str = "") -> Callable[[], dict[str, float]]:
    """A scrape for servegate.load.server_metrics that asks Prometheus for the serving
    metrics (servegate.metrics.server.RAW) of the series ``selector`` matches, aggregated as
    a direct scrape aggregates them (sum or avg over series)."""
    from servegate.metrics.server import RAW

    matchers = "{" + selector.strip().strip("{}") + "}" if selector.strip() else ""
    exprs = {
        name: f"{agg if agg == 'sum' else 'avg'}({name}{matchers})" for name, agg in RAW.items()
    }

    def scrape() -> dict[str, float]:
        out: dict[str, float] = {}
        for name, expr in exprs.items():
            v = prom.scalar(expr)
            if v is not None:
                out[name] = v
        return out

    return scrape


def _no_retry() -> object:
    from urllib3.util.retry import Retry

    return Retry(total=0, raise_on_status=False)
