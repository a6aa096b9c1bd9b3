"""Rollouts through kubectl (servegate.k8s.rollout) and the checks' one-line step errors,
against a stand-in kubectl that records its arguments (no cluster)."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from servegate.checks.resilience.env import one_line
from servegate.errors import MissingCapability, UserError
from servegate.k8s import rollout
from servegate.k8s.rollout import RolloutError, rollout_history, rollout_status, rollout_undo

HISTORY = "deployment.apps/vllm\nREVISION  CHANGE-CAUSE\n1         <none>\n2         <none>\n"

# Answers by subcommand ("rollout <verb>"): exit code, stdout, stderr.
FAKE = """\
import json, sys
from pathlib import Path
here = Path(__file__).parent
with open(here / "calls.jsonl", "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
answers = json.loads((here / "answers.json").read_text())
verb = sys.argv[sys.argv.index("rollout") + 1]
rc, out, err = answers[verb]
sys.stdout.write(out)
sys.stderr.write(err)
sys.exit(rc)
"""


class FakeKubectl:
    def __init__(self, tmp: Path) -> None:
        self.dir = tmp
        self.path = tmp / "kubectl"
        self.path.write_text(f"#!{sys.executable}\n{FAKE}")
        self.path.chmod(self.path.stat().st_mode | stat.S_IEXEC)
        self.answer()

    def answer(self, **by_verb: tuple[int, str, str]) -> None:
        answers = {
            "status": (0, "successfully rolled out\n", ""),
            "history": (0, HISTORY, ""),
            "undo": (0, "deployment.apps/vllm rolled back\n", ""),
        }
        answers.update(by_verb)
        (self.dir / "answers.json").write_text(json.dumps(answers))

    def calls(self) -> list[list[str]]:
        lines = (self.dir / "calls.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]


@pytest.fixture
def kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeKubectl:
    fake = FakeKubectl(tmp_path)
    monkeypatch.setattr(rollout, "kubectl_binary", lambda: fake.path)
    return fake


def _cluster(conditions: list[Any] | None = None, waiting: str | None = None) -> Any:
    dep = SimpleNamespace(status=SimpleNamespace(conditions=conditions or []))
    state = SimpleNamespace(waiting=SimpleNamespace(reason=waiting, message="no such image"))
    pod = SimpleNamespace(
        metadata=SimpleNamespace(name="vllm-abc"),
        status=SimpleNamespace(
            conditions=[],
            container_statuses=[SimpleNamespace(name="vllm", state=state, ready=False)]
            if waiting
            else [],
        ),
    )
    return SimpleNamespace(
        target=SimpleNamespace(kubeconfig="/kc", context="ctx"),
        apps=SimpleNamespace(read_namespaced_deployment=lambda name, ns: dep),
        core=SimpleNamespace(list_namespaced_pod=lambda ns: SimpleNamespace(items=[pod])),
    )


def test_status_runs_the_pinned_kubectl_on_the_runs_context(kubectl: FakeKubectl) -> None:
    assert rollout_status(_cluster(), "sg-1", "vllm", timeout_s=90) >= 0
    argv = kubectl.calls()[0]
    assert argv[:6] == ["--kubeconfig", "/kc", "--context", "ctx", "-n", "sg-1"]
    assert argv[6:] == ["rollout", "status", "deployment/vllm", "--timeout=90s"]


def test_status_failure_names_conditions_and_pod_problems(kubectl: FakeKubectl) -> None:
    kubectl.answer(status=(1, "", "error: timed out waiting for the condition\n"))
    failing = SimpleNamespace(type="ReplicaFailure", status="True", message="pods forbidden")
    with pytest.raises(RolloutError) as err:
        rollout_status(_cluster([failing], waiting="ImagePullBackOff"), "sg-1", "vllm", 120)
    assert str(err.value) == (
        "Deployment/vllm not rolled out after 120s: ReplicaFailure: pods forbidden; "
        "pod/vllm-abc vllm: ImagePullBackOff: no such image"
    )
    kubectl.answer(status=(1, "", "error: timed out waiting for the condition\n"))
    with pytest.raises(RolloutError, match=r"after 5s: timed out waiting for the condition$"):
        rollout_status(_cluster(), "sg-1", "vllm", 5)


def test_history_and_undo_to_the_previous_revision(kubectl: FakeKubectl) -> None:
    assert rollout_history(_cluster(), "sg-1", "vllm") == [1, 2]
    assert rollout_undo(_cluster(), "sg-1", "vllm") == 1
    undo = kubectl.calls()[-1][6:]
    assert undo == ["rollout", "undo", "deployment/vllm", "--to-revision=1"]


def test_undo_without_an_earlier_revision_or_refused(kubectl: FakeKubectl) -> None:
    kubectl.answer(history=(0, "deployment.apps/vllm\nREVISION  CHANGE-CAUSE\n1  <none>\n", ""))
    with pytest.raises(RolloutError, match="has no revision before 1 to roll back to"):
        rollout_undo(_cluster(), "sg-1", "vllm")
    kubectl.answer(undo=(1, "", "error: unable to find specified revision 7 in history\n"))
    with pytest.raises(RolloutError, match="to revision 7 failed: unable to find specified"):
        rollout_undo(_cluster(), "sg-1", "vllm", to_revision=7)


def test_one_line_names_the_step_and_lets_skips_through() -> None:
    with pytest.raises(UserError) as err, one_line("rollback v2 -> v1"):
        raise RolloutError("Deployment/vllm not rolled out after 120s: x")
    assert str(err.value) == "rollback v2 -> v1: Deployment/vllm not rolled out after 120s: x"
    with pytest.raises(MissingCapability), one_line("PDB check"):
        raise MissingCapability("the cluster's simulator image predates these checks")
