"""Ownership rules: only this owner's dead runs are orphans; names stay valid DNS labels."""

from __future__ import annotations

import re

from servegate.k8s.scope import (
    CREATED_ANNOTATION,
    NAMESPACE_PREFIX,
    OWNER_LABEL,
    RUN_LABEL,
    RunScope,
    label_value,
    orphaned,
)

ME = RunScope(run_id="20261127-120000-abcdef", owner="ci.host1")


def _labels(run: str = "old-run", owner: str = "ci.host1") -> dict[str, str]:
    return {"app.kubernetes.io/managed-by": "servegate", RUN_LABEL: run, OWNER_LABEL: owner}


def test_namespace_name_is_prefixed_dns_label() -> None:
    name = ME.namespace_name("test_chat[stream=True]::Very_Long_Name" * 3)
    assert name.startswith(NAMESPACE_PREFIX)
    assert len(name) <= 63
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)


def test_label_value_is_valid() -> None:
    assert label_value("root@host.example:1") == "root-host.example-1"
    assert len(label_value("x" * 100)) == 63


def test_owns_requires_this_run() -> None:
    assert ME.owns(ME.labels())
    assert not ME.owns(_labels(run="other"))
    assert not ME.owns({"app": "llm"})


def test_dead_pid_on_same_host_is_orphan() -> None:
    assert orphaned(_labels(), {CREATED_ANNOTATION: "0"}, ME, 100.0, 1e9, pid_alive=False)


def test_live_or_young_run_is_not_orphan() -> None:
    young = {CREATED_ANNOTATION: "90"}
    assert not orphaned(_labels(), young, ME, 100.0, 3600.0, pid_alive=True)
    assert not orphaned(_labels(), young, ME, 100.0, 3600.0, pid_alive=None)
    assert orphaned(_labels(), {CREATED_ANNOTATION: "0"}, ME, 7200.0, 3600.0, pid_alive=None)


def test_other_owner_and_current_run_are_never_orphans() -> None:
    old = {CREATED_ANNOTATION: "0"}
    assert not orphaned(_labels(owner="someone.else"), old, ME, 1e9, 1.0, pid_alive=False)
    assert not orphaned(_labels(run=ME.run_id), old, ME, 1e9, 1.0, pid_alive=False)
    assert not orphaned({"app": "x"}, old, ME, 1e9, 1.0, pid_alive=False)


def test_automatic_sweep_takes_provably_dead_runs_only() -> None:
    old = {CREATED_ANNOTATION: "0"}
    assert orphaned(_labels(), old, ME, 1e9, None, pid_alive=False)
    assert not orphaned(_labels(), old, ME, 1e9, None, pid_alive=None)  # another host: unknown


def test_a_live_run_is_never_swept_whatever_its_age() -> None:
    assert not orphaned(_labels(), {CREATED_ANNOTATION: "0"}, ME, 1e9, 1.0, pid_alive=True)


def test_creator_alive_knows_reused_pids() -> None:
    import os
    import socket
    import time

    from servegate.k8s.scope import HOST_ANNOTATION, PID_ANNOTATION, creator_alive

    host = socket.gethostname()
    mine = {HOST_ANNOTATION: host, PID_ANNOTATION: str(os.getpid())}
    assert creator_alive({**mine, CREATED_ANNOTATION: str(time.time())}, host) is True
    # The pid now names a process that started after the object was made: a reused pid.
    assert creator_alive({**mine, CREATED_ANNOTATION: "1000"}, host) is False
    gone = {HOST_ANNOTATION: host, PID_ANNOTATION: "4194304", CREATED_ANNOTATION: "0"}
    assert creator_alive(gone, host) is False  # above the kernel's pid_max
    assert creator_alive({**mine, CREATED_ANNOTATION: "0"}, "other-host") is None
    assert creator_alive({HOST_ANNOTATION: host}, host) is None
