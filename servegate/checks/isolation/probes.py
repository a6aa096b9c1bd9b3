"""Setup, probing and Teardown of the isolation checks on a live cluster.

Probe pods (``servegate.local/probe``, or ``SERVEGATE_PROBE_IMAGE``) serve TCP ports; each
cell of a truth table is one ``kubectl exec <client> -- /probe connect IP:PORT`` (or ``lookup``)
whose printed word decides it: "reachable"/an address list is True, "unreachable"/"unresolved"
False, anything else (exec failed) None. A few execs run at once. Lighter than deploying the
simulator, and the pods carry the reference Deployment's labels, so the policy selects them
exactly as it would select the model server. On the local cluster they are pinned to the real
node (kwok pods run nothing).

Policies take effect asynchronously, so the whole table is probed again until a round matches
or a deadline passes: a correct policy settles in seconds, a wrong one is reported with the
table of its last round.
"""

from __future__ import annotations

import contextlib
import copy
import json
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from servegate.checks.isolation import scenario as sc
from servegate.checks.isolation.matrix import Cell, TruthTable, compare
from servegate.errors import UserError
from servegate.harness.cluster import ClusterHandle
from servegate.k8s.deploy import (
    apply_objects,
    collect,
    create_namespace,
    delete_run_objects,
    pod_problems,
    wait_namespace_gone,
)
from servegate.k8s.relay import PROBE_IMAGE, node_affinity
from servegate.k8s.render import kubectl_binary
from servegate.wait import poll

CONNECT_TIMEOUT = "2s"
SETTLE_S = 20.0
PARALLEL = 4
EXEC_TRIES = 3
"""A busy node's runtime now and then fails an exec ("no exec found for container")."""
NAMESPACE_GONE_S = 90.0
ENFORCER_HELP = (
    "this cluster does not enforce NetworkPolicy (no policy implementation: install "
    "Calico, Cilium, Antrea or kube-network-policies, or run kube-router's firewall; "
    "on the local cluster: servegate cluster addons network-policy)"
)


@dataclass
class IsolationEnv:
    """The scenario's namespaces and pods on one cluster, and how to probe them."""

    handle: ClusterHandle
    namespaces: dict[str, str]  # scenario alias ("a", "b") -> real namespace
    pods: list[sc.ProbePod]
    ips: dict[str, str] = field(default_factory=dict)  # pod key -> pod IP
    policies: list[tuple[str, str]] = field(default_factory=list)  # (namespace, name) applied
    notes: list[str] = field(default_factory=list)

    # ---- setup -----------------------------------------------------------------------

    def pod_object(self, pod: sc.ProbePod) -> dict[str, Any]:
        containers = [
            {
                "name": f"serve-{port}",
                "image": PROBE_IMAGE,
                "imagePullPolicy": "IfNotPresent",
                "command": ["/probe", "serve", "--port", str(port)],
                "ports": [{"containerPort": port, "protocol": "TCP"}],
                "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 1},
            }
            for port in pod.ports
        ]
        spec: dict[str, Any] = {"containers": containers, "terminationGracePeriodSeconds": 1}
        if self.handle.container_nodes:  # some nodes are simulated: only these run pods
            spec["affinity"] = node_affinity(self.handle.container_nodes)
        labels = {**pod.labels, **self.handle.scope.labels()}
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": pod.name, "labels": labels},
            "spec": spec,
        }

    def create_pods(self, timeout_s: float = 120.0) -> None:
        """Create the probe pods and wait until each is Ready (serving) with an IP."""
        core = self.handle.client.core
        for pod in self.pods:
            core.create_namespaced_pod(self.namespaces[pod.ns], self.pod_object(pod))

        def all_ready() -> bool:
            for pod in self.pods:
                if pod.key not in self.ips:
                    read = core.read_namespaced_pod(pod.name, self.namespaces[pod.ns])
                    if read.status.pod_ip and _ready(read):
                        self.ips[pod.key] = read.status.pod_ip
            return len(self.ips) == len(self.pods)

        if poll(all_ready, timeout_s, 0.5) is None:
            waiting = [p.key for p in self.pods if p.key not in self.ips]
            problems = [
                q for ns in self.namespaces.values() for q in pod_problems(self.handle.client, ns)
            ]
            raise SetupError(
                f"probe pods not Ready after {timeout_s:.0f}s: {', '.join(waiting)}"
                + (f" ({'; '.join(problems[:3])})" if problems else "")
                + f"; image {PROBE_IMAGE} (SERVEGATE_PROBE_IMAGE: one your nodes can pull)"
            )

    # ---- policies ----------------------------------------------------------------------

    def apply_policy(self, alias: str, policy: dict[str, Any]) -> None:
        body = copy.deepcopy(policy)
        ns = self.namespaces[alias]
        apply_objects(self.handle.client, [body], ns, self.handle.scope)
        self.policies.append((ns, body["metadata"]["name"]))

    def remove_policies(self) -> None:
        from kubernetes.client import NetworkingV1Api
        from kubernetes.client.exceptions import ApiException

        api = NetworkingV1Api(self.handle.client.api_client)
        for ns, name in self.policies:
            with contextlib.suppress(ApiException):
                api.delete_namespaced_network_policy(name, ns)
        self.policies.clear()

    def dns_addresses(self) -> list[str]:
        """kube-dns endpoint addresses that are not pods (see scenario.adapt_dns)."""
        from kubernetes.client import DiscoveryV1Api

        api = DiscoveryV1Api(self.handle.client.api_client)
        slices = api.list_namespaced_endpoint_slice(
            "kube-system", label_selector="kubernetes.io/service-name=kube-dns"
        ).items
        out: list[str] = []
        for s in slices:
            for ep in s.endpoints or []:
                if ep.target_ref is None or ep.target_ref.kind != "Pod":
                    out += list(ep.addresses or [])
        return sorted(set(out))

    # ---- probing -----------------------------------------------------------------------

    def _exec(self, pod: sc.ProbePod, argv: list[str]) -> tuple[Cell, str]:
        cmd = [
            str(kubectl_binary()),
            "--kubeconfig",
            self.handle.kubeconfig,
            "--context",
            self.handle.context,
            "exec",
            "-n",
            self.namespaces[pod.ns],
            pod.name,
            "-c",
            f"serve-{pod.ports[0]}",
            "--",
            "/probe",
            *argv,
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
        except subprocess.TimeoutExpired:
            return None, "kubectl exec timed out"
        out = proc.stdout.strip()
        first = out.split(maxsplit=1)[0] if out else ""
        if first == "unresolved" or (first == "unreachable" and _blocked(out)):
            return False, out
        if proc.returncode == 0 and (first == "reachable" or argv[0] == "lookup"):
            return True, out
        return None, (proc.stderr.strip() or out or f"exit {proc.returncode}").splitlines()[-1]

    def probe(self, row: str, target: sc.Target) -> tuple[Cell, str]:
        """One cell; an exec that failed itself (not the probe) is tried again, twice."""
        client = next(p for p in self.pods if p.key == row)
        if target.pod is None:
            argv = ["lookup", sc.DNS_NAME]
        else:
            addr = f"{self.ips[target.pod.key]}:{target.port}"
            argv = ["connect", addr, "--timeout", CONNECT_TIMEOUT]
        for attempt in range(EXEC_TRIES):
            cell, text = self._exec(client, argv)
            if cell is not None or attempt == EXEC_TRIES - 1:
                break
            time.sleep(0.5)
        return cell, text

    def wait_open(self, row: str, col: str, timeout_s: float = SETTLE_S) -> bool:
        """Wait until ``row`` reaches ``col`` again (a removed policy has stopped acting)."""
        target = next(t for t in sc.targets(self.pods) if t.key == col)
        return poll(lambda: self.probe(row, target)[0] is True, timeout_s, 0.5) is not None

    def observe(self, want: TruthTable, settle_s: float = SETTLE_S) -> ProbeRun:
        """Probe every cell of ``want``, whole table again each round, until a round matches
        or ``settle_s`` has passed; the last round is the observation.

        Whole rounds, not only the disagreeing cells: a cell that matched before the policy
        took effect (DNS, before an egress rule cut it) must be seen again afterwards."""
        cols = {t.key: t for t in sc.targets(self.pods)}
        keys = want.judged()
        runs: list[ProbeRun] = []
        with ThreadPoolExecutor(PARALLEL) as pool:

            def round_matches() -> bool:
                got = TruthTable(list(want.rows), list(want.cols))
                detail: dict[tuple[str, str], str] = {}
                results = list(pool.map(lambda k: self.probe(k[0], cols[k[1]]), keys))
                for key, (cell, text) in zip(keys, results, strict=True):
                    got.set(key[0], key[1], cell)
                    detail[key] = text
                runs.append(ProbeRun(got, len(runs) + 1, detail))
                return not compare(want, got)

            poll(round_matches, settle_s, 1.0)
        return runs[-1]


class SetupError(UserError):
    """The scenario could not be set up (one line, naming what to fix)."""


def _ready(pod: Any) -> bool:
    conds = pod.status.conditions or []
    return any(c.type == "Ready" and c.status == "True" for c in conds)


BLOCKED_WORDS = ("refused", "timeout", "no route", "unreachable", "prohibited", "reset")
"""How a refused, dropped or rejected connection reads in Go's dial errors."""


def _blocked(text: str) -> bool:
    """A dial error that means the network said no (not a bad address or a bad probe)."""
    detail = text.split(" ", 2)[2] if text.count(" ") >= 2 else ""
    return any(w in detail for w in BLOCKED_WORDS)


@dataclass
class ProbeRun:
    observed: TruthTable
    rounds: int
    detail: dict[tuple[str, str], str]


@contextlib.contextmanager
def isolation_env(
    handle: ClusterHandle, unit_pods: list[sc.ProbePod], out_dir: Path
) -> Iterator[IsolationEnv]:
    """Setup: namespaces ``a`` and ``b`` of the run with the probe pods, Ready, with IPs.
    Teardown (always): policies removed, events/pod states/logs saved, namespaces deleted."""
    client, scope = handle.client, handle.scope
    env = IsolationEnv(handle, {}, unit_pods)
    try:
        for alias in ("a", "b"):
            env.namespaces[alias] = create_namespace(client, scope, f"isolation-{alias}")
        env.create_pods()
        yield env
    finally:
        env.remove_policies()
        for alias, ns in env.namespaces.items():
            try:
                collect(client, ns, out_dir / "cluster" / alias)
            finally:
                delete_run_objects(client, ns, [], scope, wait_s=0.0)
        for ns in env.namespaces.values():
            wait_namespace_gone(client, ns, NAMESPACE_GONE_S)
        (out_dir / "pod-ips.json").write_text(json.dumps(env.ips, indent=1) + "\n")


@dataclass(frozen=True)
class Canary:
    enforced: bool
    message: str
    before: Cell
    after: Cell


def canary(env: IsolationEnv, settle_s: float = SETTLE_S) -> Canary:
    """Deny-all ingress to ``b/other`` in the scratch namespace ``b``: ``b/api-gateway``
    must reach it before and not after. Removed again before returning."""
    client = next(p for p in env.pods if p.key == "b/api-gateway")
    server = next(p for p in env.pods if p.key == "b/other")
    target = sc.Target(f"{server.key}:{sc.SERVE_PORT}", server, sc.SERVE_PORT)
    before, text = env.probe(client.key, target)
    if before is not True:
        why = "pod networking is broken" if before is False else "the probe cannot run"
        return Canary(
            False,
            f"{client.key} -> {target.key} without any policy: {text}: {why}, "
            "so enforcement cannot be judged",
            before,
            None,
        )
    labels = dict(server.labels) or {"sg-canary": "server"}
    if not server.labels:
        _label(env, server, labels)
    env.apply_policy("b", sc.deny_all_ingress(labels))
    seen: list[tuple[Cell, str]] = []

    def blocked() -> bool:
        seen.append(env.probe(client.key, target))
        return seen[-1][0] is False

    try:
        poll(blocked, settle_s)
    finally:
        env.remove_policies()
    after, text = seen[-1]
    if after is False:
        return Canary(True, f"deny-all ingress blocked {client.key} -> {target.key}", before, after)
    return Canary(
        False,
        f"{ENFORCER_HELP}: a deny-all ingress policy in {env.namespaces['b']} left "
        f"{client.key} -> {target.key} {'reachable' if after else 'unprobed: ' + text} "
        f"after {settle_s:.0f}s",
        before,
        after,
    )


def _label(env: IsolationEnv, pod: sc.ProbePod, labels: dict[str, str]) -> None:
    env.handle.client.core.patch_namespaced_pod(
        pod.name, env.namespaces[pod.ns], {"metadata": {"labels": labels}}
    )
