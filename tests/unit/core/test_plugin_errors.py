"""The plugin turns library errors into one-line outcomes: a UserError fails the test with
its message and no traceback, a MissingCapability skips naming what is missing; in a test
body and in a fixture's setup alike."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

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
