"""The run's settings, as the plugin parsed them from options and SERVEGATE_* variables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    cluster: str
    kubeconfig: str | None
    context: str | None
    allowed_contexts: tuple[str, ...]
    endpoint: str | None
    results_root: Path
    run_id: str
    sim_config: str | None = None
    sweep_orphans: bool = False
    cluster_explicit: bool = False
    fleet: Path | None = None
    overlay: str = "sim"
    """sim, gpu, engine (llama-server) or llmd (llm-d-inference-sim); the session loads the
    images of the last two into its cluster."""
    keep_cluster: bool = False
    # On a cluster servegate did not make (shared with other teams): what a run may claim.
    allow_preemption: bool = False
    ingress_host: str | None = None
    tls_issuer: str | None = None
    # A skipped check of a required capability fails the run instead (nightly gates, CI).
    strict: bool = False
    # Where load runs send their load from: auto (pods in the cluster when this machine
    # cannot route into it), host, or cluster (servegate.harness.incluster).
    load_from: str = "auto"
    # The GPU price table of the cost figures (None: the shipped one).
    prices: Path | None = None

    @property
    def shared(self) -> bool:
        """The cluster is not servegate's own: other teams' workloads may run on it."""
        return self.cluster == "existing"

    @property
    def named_cluster(self) -> bool:
        """The user named a cluster to test (not servegate's default local one, not none)."""
        return self.cluster in ("existing", "kind")
