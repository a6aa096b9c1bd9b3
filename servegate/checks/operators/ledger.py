"""What each operator check exercised, and what it could not, as the session's "operators"
section (results/<run-id>/index.md and index.json).

The section is rewritten after every record, so it exists even when a later test dies, and it
lists up front what no run on a GPU-less, image-less machine can exercise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

PATTERNS = ("kserve", "ray-serve")

NEVER_EXERCISED: dict[str, tuple[str, ...]] = {
    "kserve": (
        "KServe admission webhooks (InferenceService defaulting/validation, ServingRuntime "
        "validation, the pod mutator that injects the storage initializer and agent): the "
        "webhook server runs but no webhook configuration is registered",
        "the Hugging Face ServingRuntime of the gpu overlay (vLLM backend, model download): "
        "the sim overlay uses a custom predictor container",
        "Knative (Serverless) mode, Istio VirtualServices, Ingress and Gateway API routes",
        "KEDA acting on the ScaledObject KServe creates (its Prometheus query points at a "
        "Prometheus the local cluster does not have)",
    ),
    "ray-serve": (
        "the gpu overlay's applications (Ray Serve LLM with vLLM, sentence-transformers): the "
        "sim overlay serves the simulator from servegate's Ray image instead",
        "the Ray autoscaler sidecar (enableInTreeAutoscaling, off in the sim overlay) and "
        "worker-group scaling (Serve's own replica autoscaling is checked)",
        "GPU utilisation of the Ray pattern: the simulators' DCGM gauges stay inside the "
        "replicas, no Prometheus scrapes them",
    ),
}

STATUSES = ("exercised", "accepted only", "failed", "skipped")


@dataclass
class Entry:
    pattern: str
    aspect: str
    status: str
    detail: str


class Sink(Protocol):
    """Where the section goes: the session's results (``RunResults``), or a test's stand-in."""

    def section(self, name: str, title: str, markdown: str, data: dict[str, Any]) -> None: ...


@dataclass
class OperatorLedger:
    """Collects entries; ``sink`` is sg_results (anything with ``section``)."""

    sink: Sink
    entries: list[Entry] = field(default_factory=list)

    def record(self, pattern: str, aspect: str, status: str, detail: str = "") -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        self.entries = [e for e in self.entries if (e.pattern, e.aspect) != (pattern, aspect)]
        self.entries.append(Entry(pattern, aspect, status, " ".join(detail.split())))
        self.write()

    def outcome(
        self,
        pattern: str,
        aspect: str,
        failures: list[str],
        passed: str,
        status: str = "exercised",
        most: int | None = 4,
    ) -> None:
        """Record a check's result: ``failed`` with the first ``most`` failures (None: all),
        or, when there are none, ``status`` with the ``passed`` detail."""
        if failures:
            self.record(pattern, aspect, "failed", "; ".join(failures[:most]))
        else:
            self.record(pattern, aspect, status, passed)

    def markdown(self) -> str:
        parts = [
            "What the KServe and KubeRay checks exercised on this cluster, and what they did "
            "not. *exercised*: a real controller reconciled it and the check passed; "
            "*accepted only*: the API server accepted it against the CRD schema (strict field "
            "validation) but no controller acted on it."
        ]
        for pattern in PATTERNS:
            parts.append(f"### {pattern}\n\n| aspect | status | detail |\n|---|---|---|")
            rows = [e for e in self.entries if e.pattern == pattern]
            if not rows:
                parts[-1] += "\n| (no check ran) | skipped | |"
            for e in rows:
                detail = e.detail.replace("|", "\\|")
                parts[-1] += f"\n| {e.aspect} | {e.status} | {detail} |"
            never = "\n".join(f"- {n}" for n in NEVER_EXERCISED[pattern])
            parts.append(f"Not exercised by any run on this cluster:\n\n{never}")
        return "\n\n".join(parts)

    def data(self) -> dict[str, Any]:
        return {
            "entries": [e.__dict__ for e in self.entries],
            "never_exercised": {k: list(v) for k, v in NEVER_EXERCISED.items()},
        }

    def write(self) -> None:
        self.sink.section(
            "operators",
            "Operators: KServe and KubeRay, what was and was not exercised",
            self.markdown(),
            data=self.data(),
        )
