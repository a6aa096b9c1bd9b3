"""Ray Serve running for real: the ray-serve unit's sim overlay on servegate's Ray image.

Setup loads the Ray image into the cluster's nodes (built and cached on first use: minutes),
deploys the unit with its head and worker pods on nodes that run containers, and waits until
KubeRay reports the RayService Running and Serve's own REST API (the dashboard on the head
Service) reports every application RUNNING and every deployment HEALTHY. The assessments are
pure functions in :mod:`.raychecks`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from servegate.checks.operators.checks import Obj
from servegate.checks.operators.env import (
    CUSTOM,
    RAY_UNIT,
    Mutate,
    OperatorCheck,
    custom_api,
    get_custom,
    list_custom,
    namespace_state,
    pin_ray_pods_to,
    save,
    until_passes,
)
from servegate.checks.operators.raychecks import (
    PLACEMENT_PATH,
    assess_gpu_sharing,
    assess_serving,
    running_replicas,
    serve_apps,
)
from servegate.errors import MissingCapability, UserError
from servegate.harness.cluster import service_url
from servegate.harness.deploy import Deployed

IMAGE = "ray"
DASHBOARD_PORT = 8265
SERVE_PORT = 8000
STATE_ACTORS = "/api/v0/actors?detail=true&limit=1000"
STATE_NODES = "/api/v0/nodes?detail=true&limit=100"
SERVE_APPS = "/api/serve/applications/"


def load_image(check: OperatorCheck) -> str:
    """Build (cached) and load servegate's Ray image into the nodes of a cluster servegate
    made. Elsewhere the image must already be in the runtime of the nodes that run containers
    (the cluster's owners loaded it, as the kubelet reports in ``status.images``): servegate
    never loads images into a cluster it did not make (a missing capability, naming why)."""
    if check.cluster.kind not in ("local", "kind"):
        return image_on_nodes(check)
    from servegate.cluster.providers import provider

    last: dict[str, int] = {}

    def progress(label: str, done: int, total: int) -> None:
        if last.get(label) != done:
            last[label] = done
            print(f"building {label}: {done}/{total}", flush=True)

    prov = provider(check.cluster.kind, name=check.cluster.cluster_name)
    return prov.load_images((IMAGE,), progress)[0]


def image_on_nodes(check: OperatorCheck) -> str:
    """The Ray image's reference, when every node that runs containers reports it; a
    missing capability otherwise (the pods are pinned to those nodes)."""
    from servegate.cluster.node.images import RAY
    from servegate.k8s.nodes import holding_image, nodes_among

    runs = nodes_among(check.cluster.client, check.cluster.container_nodes)
    holding = set(holding_image(RAY, runs))
    lacking = sorted(
        str(n["metadata"]["name"]) for n in runs if n["metadata"]["name"] not in holding
    )
    if not runs or lacking:
        where = ", ".join(lacking) if lacking else "no node that runs containers"
        raise MissingCapability(
            f"the ray-serve sim overlay runs {RAY}, which is not in the runtime of {where}: "
            "servegate loads its images only into clusters it made (docs/foreign.md); "
            "or use --sg-overlay gpu on this cluster"
        )
    return RAY


def get_json(url: str, timeout_s: float = 5.0) -> Any:
    """GET ``url`` as JSON; any failure is a UserError naming the URL."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError) as exc:
        raise UserError(f"GET {url}: {exc}") from None


@dataclass
class RayServing:
    """The deployed RayService and what the checks saw of it."""

    check: OperatorCheck
    dep: Deployed
    started: float
    seen: dict[str, Any] = field(default_factory=dict)
    running_after_s: float | None = None

    @property
    def name(self) -> str:
        return str(self.dep.find("RayService")["metadata"]["name"])

    @property
    def apps(self) -> dict[str, list[str]]:
        """Application -> deployment names, from the manifest's serveConfigV2."""
        return serve_apps(self.dep.find("RayService"))

    @contextlib.contextmanager
    def url(self, which: str) -> Iterator[str]:
        """Base URL of the RayService's serve Service (``serve``: Serve's HTTP proxies behind
        the Service KubeRay makes once the applications are healthy), or of the head pod's
        dashboard (``dashboard``) or Serve proxy (``proxy``): KubeRay's head Services are
        headless, and a RayService that never got healthy has no serve Service."""
        handle, ns = self.check.cluster, self.dep.namespace
        if which == "serve":
            with service_url(handle, ns, f"{self.name}-serve-svc", SERVE_PORT) as url:
                yield url
            return
        port = {"dashboard": DASHBOARD_PORT, "proxy": SERVE_PORT}[which]
        pod = self.head_pod()
        if handle.routes_to_services:  # the local cluster: this host routes to pod IPs
            yield f"http://{pod['status']['podIP']}:{port}"
            return
        from servegate.k8s import endpoint
        from servegate.k8s.render import kubectl_binary

        with endpoint.port_forward(
            str(kubectl_binary()),
            handle.kubeconfig,
            handle.context,
            ns,
            "",
            port,
            target=f"pod/{pod['metadata']['name']}",
        ) as url:
            yield url

    def head_pod(self) -> Obj:
        """The running Ray head pod (UserError if there is none yet)."""
        pods = namespace_state(self.check.cluster, self.dep.namespace)["pods"]
        heads = [
            p
            for p in pods
            if p["metadata"].get("labels", {}).get("ray.io/node-type") == "head"
            and p.get("status", {}).get("phase") == "Running"
            and p["status"].get("podIP")
        ]
        if not heads:
            raise UserError(f"no running Ray head pod in {self.dep.namespace}")
        return heads[0]

    def look(self) -> list[str]:
        """One look: the RayService, its pods, Serve's application status; the failures."""
        handle, ns = self.check.cluster, self.dep.namespace
        self.seen["rayservice"] = rs = get_custom(handle, "RayService", ns, self.name)
        self.seen["rayclusters"] = list_custom(handle, "RayCluster", ns)
        self.seen["pods"] = namespace_state(handle, ns)["pods"]
        try:
            with self.url("dashboard") as url:
                self.seen["serve"] = get_json(url + SERVE_APPS)
        except UserError as exc:
            self.seen["serve"] = {"error": str(exc)}
        return assess_serving(rs, self.seen["serve"], self.apps)

    def wait_running(self, timeout_s: float) -> list[str]:
        """Until the RayService is Running and Serve reports every app and deployment healthy
        (or ``timeout_s``); saved as ``serving.json``."""
        failures = until_passes(self.look, timeout_s, every_s=5.0)
        if not failures:
            self.running_after_s = time.monotonic() - self.started
        save(self.check.out_dir, "serving", self.seen)
        return failures

    def placements(self, apps: list[str] | None = None) -> tuple[list[Obj], list[Obj], list[Obj]]:
        """What each replica reports of its placement (Ray's runtime context, through the head
        pod's Serve proxy) and Ray's State API lists of actors and nodes (the dashboard),
        saved as ``placement.json``."""
        reports: list[Obj] = []
        with self.url("proxy") as url:
            for app, prefix in self.route_prefixes().items():
                if apps is not None and app not in apps:
                    continue
                base = prefix.rstrip("/")
                report = get_json(f"{url}{base}{PLACEMENT_PATH}", timeout_s=10.0)
                report.setdefault("app", app)
                reports.append(report)
        with self.url("dashboard") as url:
            actors = _state_list(get_json(url + STATE_ACTORS, timeout_s=15.0))
            nodes = _state_list(get_json(url + STATE_NODES, timeout_s=15.0))
        save(
            self.check.out_dir, "placement", {"replicas": reports, "actors": actors, "nodes": nodes}
        )
        return reports, actors, nodes

    def route_prefixes(self) -> dict[str, str]:
        serve = self.seen.get("serve", {})
        return {
            name: str(app.get("route_prefix") or "/")
            for name, app in (serve.get("applications") or {}).items()
        }

    def update_serve_config(self, serve_config: str) -> None:
        """A new serveConfigV2 for the RayService (what a user's ``kubectl apply`` changes);
        KubeRay then rolls it out to Serve."""
        group, version, plural = CUSTOM["RayService"]
        custom_api(self.check.cluster).patch_namespaced_custom_object(
            group,
            version,
            self.dep.namespace,
            plural,
            self.name,
            {"spec": {"serveConfigV2": serve_config}},
        )

    def serving_version(self, version: str) -> bool:
        """One look: Serve runs every application healthy with ``version`` deployed."""
        if self.look():
            return False
        apps = self.seen["serve"].get("applications") or {}
        return all(
            ((apps[a].get("deployed_app_config") or {}).get("args") or {}).get("model_version")
            == version
            for a in self.apps
        )

    def gpu_sharing(self, apps: list[str] | None = None) -> tuple[list[str], list[Obj]]:
        """The GPU-sharing failures of ``apps`` (default: every application) and the
        replicas' placement reports."""
        wanted = {a: d for a, d in self.apps.items() if apps is None or a in apps}
        reports, actors, nodes = self.placements(list(wanted))
        return assess_gpu_sharing(reports, actors, nodes, wanted), reports


def _state_list(answer: Any) -> list[Obj]:
    """The rows of a State API list answer (``data.result.result``)."""
    rows = ((answer or {}).get("data") or {}).get("result") or {}
    return list(rows.get("result") or []) if isinstance(rows, dict) else []


def versioned_config(serve_config: str, version: str) -> str:
    """serveConfigV2 with every application's simulator answering as model ``version``
    (header X-Servegate-Model-Version on every response)."""
    config = yaml.safe_load(serve_config) or {}
    for app in config.get("applications") or []:
        app.setdefault("args", {})["model_version"] = version
    return str(yaml.safe_dump(config, sort_keys=False))


def with_version(version: str) -> Mutate:
    """A deploy mutation: the RayService's applications at model ``version``."""

    def mutate(objects: list[Obj]) -> list[Obj]:
        out = []
        for o in objects:
            if o.get("kind") == "RayService":
                o = copy.deepcopy(o)
                o["spec"]["serveConfigV2"] = versioned_config(o["spec"]["serveConfigV2"], version)
            out.append(o)
        return out

    return mutate


def with_autoscaling(
    app: str, deployment: str, autoscaling: dict[str, Any], worker_gpus: int
) -> Mutate:
    """A deploy mutation: Serve's autoscaler in charge of ``app``/``deployment``'s replicas
    (``autoscaling_config`` instead of ``num_replicas``), and a worker declaring and holding
    ``worker_gpus`` GPUs, and declaring as many CPUs, so that added replicas have room."""

    def mutate(objects: list[Obj]) -> list[Obj]:
        out = []
        for o in objects:
            if o.get("kind") == "RayService":
                o = copy.deepcopy(o)
                config = yaml.safe_load(o["spec"]["serveConfigV2"])
                for a in config["applications"]:
                    for d in a.get("deployments") or []:
                        if (a["name"], d["name"]) == (app, deployment):
                            d.pop("num_replicas", None)
                            d["autoscaling_config"] = dict(autoscaling)
                o["spec"]["serveConfigV2"] = yaml.safe_dump(config, sort_keys=False)
                worker = o["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]
                worker["rayStartParams"]["num-gpus"] = str(worker_gpus)
                worker["rayStartParams"]["num-cpus"] = str(worker_gpus)
                res = worker["template"]["spec"]["containers"][0]["resources"]
                for part in ("requests", "limits"):
                    res[part]["nvidia.com/gpu"] = worker_gpus
            out.append(o)
        return out

    return mutate


class ReplicaSampler:
    """RUNNING replicas of one deployment as Serve reports them, every ``every_s`` seconds in
    a thread, as (seconds since start, count); a failed read is skipped."""

    def __init__(self, url: str, app: str, deployment: str, every_s: float = 2.0) -> None:
        self.url, self.app, self.deployment, self.every_s = url, app, deployment, every_s
        self.samples: list[tuple[float, int]] = []
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="serve-replicas", daemon=True)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def since(self, t_s: float) -> int | None:
        """The latest count, if it was read after ``t_s`` (else None)."""
        if not self.samples or self.samples[-1][0] <= t_s:
            return None
        return self.samples[-1][1]

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                serve = get_json(self.url + SERVE_APPS)
            except UserError:
                serve = {}
            n = running_replicas(serve, self.app, self.deployment)
            if n is not None:
                self.samples.append((self.now(), n))
            self._stop.wait(self.every_s)

    def __enter__(self) -> ReplicaSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


@contextlib.contextmanager
def serving(check: OperatorCheck, mutate: Mutate | None = None) -> Iterator[RayServing]:
    """The ray-serve sim overlay deployed on servegate's Ray image (loaded first), changed by
    ``mutate`` if given (the meta-tests break it); not yet waited for. Teardown: the deploy
    fixture saves events and logs and deletes the namespace."""
    load_image(check)

    def prepare(objects: list[Obj]) -> list[Obj]:
        objects = mutate(objects) if mutate is not None else objects
        nodes = check.cluster.container_nodes  # read from the API: some nodes are simulated
        return pin_ray_pods_to(objects, nodes) if nodes else objects

    t0 = time.monotonic()
    with check.deploy_sim(RAY_UNIT, prepare) as dep:
        yield RayServing(check, dep, t0)


def running_summary(ray: RayServing) -> str:
    """What a passing serving check saw, for the operators section."""
    took = "-" if ray.running_after_s is None else f"{ray.running_after_s:.0f} s"
    apps = ", ".join(f"{a} ({', '.join(d)})" for a, d in ray.apps.items())
    return (
        f"Ray {ray.check.cluster.kind} pods ran ray start; Serve applications {apps} RUNNING "
        f"and HEALTHY, {took} from deploy to Running (image load excluded)"
    )


def sharing_summary(reports: list[Obj]) -> str:
    """The replicas' GPU ids and fractions, for the operators section."""
    parts = [
        f"{r.get('app')}: GPU {','.join(r.get('gpu_ids') or [])} "
        f"x {float((r.get('assigned_resources') or {}).get('GPU', 0)):g}"
        for r in reports
    ]
    node = str(reports[0].get("node_id", ""))[:12] if reports else "-"
    return f"{'; '.join(parts)} on Ray node {node}"
