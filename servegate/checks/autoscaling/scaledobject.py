"""The test variant of the reference KEDA ScaledObjects, as pure functions over rendered objects.

The reference components are written for production: a 600 s cooldown, KEDA's 30 s polling,
the HPA's default 300 s scale-down stabilisation, and addresses of in-cluster Services
(redis-queue, prometheus-operated) that a test cluster may not have. A check that must finish
in minutes keeps the component's trigger type, target and threshold and changes only:

- pollingInterval 5 s, cooldownPeriod 30 s (the latter only matters for scale-to-zero,
  which minReplicaCount 1 rules out; kept short so a variant with 0 would still finish);
- HPA behaviour: scale-down stabilisation 10 s instead of 300 s, scale-up immediate and
  allowed to reach maxReplicaCount in one step;
- maxReplicaCount capped so the check fits a small cluster;
- the trigger's address / list name / query, filled in at run time (see ``scenarios``);
- the label the local cluster's KEDA add-on watches (servegate.io/keda=enabled).

The ScaledObject is split off the unit and created only after the workload is ready, once its
namespace (which scopes the query and the list name) is known.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from servegate.cluster.addons.keda import WATCH_LABEL

Obj = dict[str, Any]

# The test variant's timing, the same for every check (see the module's docstring).
POLLING_INTERVAL_S = 5  # pollingInterval
COOLDOWN_S = 30  # cooldownPeriod
SCALE_DOWN_WINDOW_S = 10  # the HPA's scale-down stabilizationWindowSeconds


@dataclass(frozen=True)
class Knobs:
    """The replica bounds a check chooses: minReplicaCount and maxReplicaCount (also how many
    pods one scale-up step may add)."""

    min_replicas: int = 1
    max_replicas: int = 4


def split_scaledobject(objects: list[Obj], name: str | None = None) -> tuple[list[Obj], Obj]:
    """(the unit without its ScaledObject, the ScaledObject); exactly one must be there."""
    found = [
        o
        for o in objects
        if o.get("kind") == "ScaledObject" and name in (None, o["metadata"]["name"])
    ]
    if len(found) != 1:
        names = [o["metadata"]["name"] for o in found]
        raise ValueError(f"expected one ScaledObject{' ' + name if name else ''}, found {names}")
    return [o for o in objects if o is not found[0]], found[0]


def scaledobject_variant(so: Obj, knobs: Knobs, trigger_metadata: dict[str, str]) -> Obj:
    """A copy of ``so`` with the test variant's timing, the ``knobs`` and the given trigger
    metadata merged in."""
    out = copy.deepcopy(so)
    meta = out.setdefault("metadata", {})
    meta.pop("namespace", None)
    meta.setdefault("labels", {})[WATCH_LABEL[0]] = WATCH_LABEL[1]
    spec = out["spec"]
    spec["pollingInterval"] = POLLING_INTERVAL_S
    spec["cooldownPeriod"] = COOLDOWN_S
    spec["minReplicaCount"] = knobs.min_replicas
    spec["maxReplicaCount"] = knobs.max_replicas
    spec.setdefault("advanced", {})["horizontalPodAutoscalerConfig"] = {
        "behavior": {
            "scaleDown": {
                "stabilizationWindowSeconds": SCALE_DOWN_WINDOW_S,
                "policies": [{"type": "Percent", "value": 100, "periodSeconds": 5}],
            },
            "scaleUp": {
                "stabilizationWindowSeconds": 0,
                # The larger of the two: straight from 1 to max in one HPA sync.
                "policies": [
                    {"type": "Percent", "value": 100, "periodSeconds": 5},
                    {"type": "Pods", "value": knobs.max_replicas, "periodSeconds": 5},
                ],
            },
        }
    }
    triggers = spec.get("triggers") or []
    if len(triggers) != 1:
        raise ValueError(f"ScaledObject {meta.get('name')}: expected one trigger")
    triggers[0].setdefault("metadata", {}).update(trigger_metadata)
    return out


def _pod_templates(objects: list[Obj]) -> list[Obj]:
    return [
        o["spec"]["template"]
        for o in objects
        if o.get("kind") in ("Deployment", "StatefulSet")
        and o["spec"]["template"]["metadata"].get("labels", {}).get("servegate.io/role")
        == "model-server"
    ]


def with_env(objects: list[Obj], env: dict[str, str]) -> list[Obj]:
    """Model-server containers with extra environment variables (simulator settings)."""
    out = copy.deepcopy(objects)
    for tpl in _pod_templates(out):
        for c in tpl["spec"]["containers"]:
            have = [e for e in c.get("env", []) if e.get("name") not in env]
            c["env"] = have + [{"name": k, "value": v} for k, v in env.items()]
    return out


def replicas_for(items: int, per_replica: int, knobs: Knobs) -> int:
    """What the HPA should ask for: ceil(items / target per replica), within min and max."""
    want = -(-items // per_replica)
    return max(knobs.min_replicas, min(knobs.max_replicas, want))


def shipped_query(so: Obj, namespace: str) -> str:
    """The reference ScaledObject's own Prometheus query, confined to ``namespace`` (the
    cluster's Prometheus is shared with other runs and teams)."""
    from servegate.k8s.confine import scope_query

    for trigger in so["spec"]["triggers"]:
        if trigger.get("type") == "prometheus":
            return scope_query(str(trigger["metadata"]["query"]), namespace)
    raise ValueError(f"ScaledObject {so['metadata']['name']} has no prometheus trigger")
