"""The plugin turns library errors into one-line outcomes: a UserError fails the test with
its message and no traceback, a MissingCapability skips naming what is missing; in a test
body and in a fixture's setup alike."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _not_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    """These runs choose strict mode by flag; CI's SERVEGATE_STRICT must not choose for them."""
    monkeypatch.delenv("SERVEGATE_STRICT", raising=False)


TESTS = """
import pytest
from servegate.errors import MissingCapability, UserError

@pytest.fixture
def broken():
    raise UserError("the cluster said no")

@pytest.fixture
def lacking():
    raise MissingCapability("keda: not installed")

def test_body_error():
    raise UserError("deploy failed: quota exceeded")

def test_fixture_error(broken):
    pass

def test_body_missing():
    raise MissingCapability("metrics API: absent")

def test_fixture_missing(lacking):
    pass

@pytest.fixture(scope="module")
def shared():
    raise UserError("the shared setup said no")

def test_first_user_of_shared(shared):
    pass

def test_second_user_of_shared(shared):
    pass

def test_other_errors_keep_their_traceback():
    raise ValueError("a bug")
"""


def test_user_errors_are_one_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_errors=TESTS)
    result = pytester.runpytest_inprocess("-rA", "-p", "no:cacheprovider", "--sg-cluster=none")
    result.assert_outcomes(failed=2, skipped=2, errors=3)
    out = result.stdout.str()
    assert "Failed: deploy failed: quota exceeded" in out or "deploy failed: quota exceeded" in out
    assert "SKIPPED [1] test_errors.py" in out and "keda: not installed" in out
    assert "metrics API: absent" in out
    # one line: the failing test's report holds no traceback of the library error
    section = out.split("test_body_error", 1)[1].split("test_fixture_error", 1)[0]
    assert "raise UserError" not in section
    assert "raise ValueError" in out  # ordinary bugs still show where they are
    # a scoped fixture's error reaches every test that uses it as the same one line
    for name in ("test_first_user_of_shared", "test_second_user_of_shared"):
        after = out.split(f"ERROR at setup of {name} ", 1)[1].splitlines()[1:3]
        assert after[0] == "the shared setup said no", after
        assert after[1].startswith(("_", "=")), after  # nothing more: no traceback
    assert 'raise UserError("the shared' not in out


def test_strict_mode_fails_a_missing_capability(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_errors=TESTS)
    result = pytester.runpytest_inprocess(
        "-rA", "-p", "no:cacheprovider", "--sg-cluster=none", "--sg-strict"
    )
    result.assert_outcomes(failed=3, errors=4)  # a fixture that fails is an error
    out = result.stdout.str()
    assert "missing capability (--sg-strict): metrics API: absent" in out
    assert "missing capability (--sg-strict): keda: not installed" in out


SKIPPING = """
import pytest
from servegate.errors import MissingCapability

@pytest.fixture
def results(sg_results):
    return sg_results

def test_no_policy_enforcement(results):
    raise MissingCapability("isolation: the cluster does not enforce NetworkPolicy")

def test_no_keda(results):
    raise MissingCapability("keda: not installed")
"""


def test_a_run_whose_every_check_skipped_does_not_pass(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_skips=SKIPPING)
    results = pytester.path / "results"
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "--sg-cluster=none", f"--results={results}", "--run-id=r1"
    )
    result.assert_outcomes(skipped=2)
    assert result.ret == 1
    assert "all 2 selected checks were skipped" in result.stdout.str()
    index = (results / "r1" / "index.md").read_text()
    top = index.split("## Checks that did not run", 1)[1].split("No benchmark runs", 1)[0]
    assert "the cluster does not enforce NetworkPolicy" in top and "keda: not installed" in top
    assert "with --sg-strict, a missing capability fails the run" in top


def test_a_run_where_some_checks_ran_keeps_its_status(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_skips=SKIPPING + "\ndef test_one_that_runs(results):\n    assert True\n"
    )
    results = pytester.path / "results"
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "--sg-cluster=none", f"--results={results}", "--run-id=r2"
    )
    result.assert_outcomes(passed=1, skipped=2)
    assert result.ret == 0
    assert "2 of 3 checks did not run" in (results / "r2" / "index.md").read_text()


def test_self_consistency_checks_are_labelled_in_the_index(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_own="""
import pytest

@pytest.mark.conformance
def test_fleet_against_itself(sg_results, sg_self_consistency):
    sg_self_consistency("labels and allocatable both come from the fleet file")

@pytest.mark.conformance
def test_with_an_oracle(sg_results):
    assert True
"""
    )
    results = pytester.path / "results"
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "--sg-cluster=none", f"--results={results}", "--run-id=r3"
    )
    result.assert_outcomes(passed=2)
    index = (results / "r3" / "index.md").read_text()
    own = index.split("## Checks of servegate against itself", 1)[1]
    assert "1 check(s) had no oracle independent of servegate" in own
    assert "test_fleet_against_itself`: labels and allocatable both come from the fleet file" in own
    assert "test_with_an_oracle" not in own.split("##", 1)[0]
    assert "| conformance (self-consistency) | passed |" in index


@pytest.mark.parametrize("run_id", ["Nightly", "soak-20261204T222801Z-1", "a_b", "-x", "x" * 64])
def test_a_run_id_that_cannot_name_cluster_objects_is_one_line(
    pytester: pytest.Pytester, run_id: str
) -> None:
    """Found by the interrupt soak: an upper-case run id got as far as the API server, which
    refused the run's PriorityClass in the middle of the first check."""
    pytester.makepyfile(test_one="def test_one():\n    assert True\n")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--sg-cluster=none", f"--run-id={run_id}"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert f"--run-id {run_id!r}: use lowercase letters" in err and "Traceback" not in err
