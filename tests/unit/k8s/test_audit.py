"""Reading an identity's writes from the API server's audit log, and judging them against
what one run owns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from servegate.k8s.audit import outside_run, read_writes, writes

USER = "servegate-suite"


def event(verb: str, resource: str, namespace: str = "", name: str = "", **kw: Any) -> str:
    ref = {"resource": resource, "namespace": namespace, "name": name, **kw.pop("ref", {})}
    return json.dumps(
        {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "stage": "ResponseComplete",
            "verb": verb,
            "user": {"username": kw.pop("user", USER)},
            "objectRef": ref,
            "responseStatus": {"code": kw.pop("code", 201)},
            "requestReceivedTimestamp": kw.pop("at", "2026-12-04T15:00:00.000000Z"),
        }
    )


def test_writes_of_one_user_only() -> None:
    lines = [
        event("create", "namespaces", name="sg-r1-smoke-ab12"),
        event("get", "pods", "sg-r1-smoke-ab12", "p"),  # a read
        event("patch", "leases", "kube-system", "kube-scheduler", user="system:kube-scheduler"),
        '{"truncated": ',  # a line cut while the server writes
        event("create", "pods", "sg-r1-smoke-ab12", "p", ref={"subresource": "portforward"}),
    ]
    found = list(writes(lines, USER))
    assert [str(w) for w in found] == [
        "create namespaces sg-r1-smoke-ab12 (201)",
        "create pods/portforward sg-r1-smoke-ab12/p (201)",
    ]


def test_writes_outside_the_run_are_named() -> None:
    lines = [
        event("create", "namespaces", name="sg-r1-smoke-ab12"),
        event("patch", "deployments", "sg-r1-smoke-ab12", "vllm", ref={"apiGroup": "apps"}),
        event("create", "priorityclasses", name="servegate-inference-r1"),
        event("create", "priorityclasses", name="sg-r1-high"),
        event("delete", "namespaces", name="sg-r1-smoke-ab12", code=200),
        event("create", "selfsubjectaccessreviews"),  # stores nothing
        # outside: another run's namespace, a foreign namespace, an unlabelled cluster object
        event("delete", "namespaces", name="sg-r2-smoke-cd34", code=200),
        event("patch", "configmaps", "kube-system", "coredns"),
        event("create", "priorityclasses", name="high-priority-ai"),
    ]
    bad = outside_run(writes(lines, USER), "r1")
    assert [str(w) for w in bad] == [
        "delete namespaces sg-r2-smoke-cd34 (200)",
        "patch configmaps kube-system/coredns (201)",
        "create priorityclasses high-priority-ai (201)",
    ]


def test_read_writes_since_a_time(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text(
        event("create", "namespaces", name="old", at="2026-12-04T14:00:00Z")
        + "\n"
        + event("create", "namespaces", name="new", at="2026-12-04T15:30:00Z")
        + "\n"
    )
    assert [w.name for w in read_writes(log, USER, since="2026-12-04T15:00:00Z")] == ["new"]
