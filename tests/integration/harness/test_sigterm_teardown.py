"""A SIGTERM to a pytest run tears it down as Ctrl-C does (fixtures/pytest_servegate/
interrupts.py): the finalizers that delete a run's namespaces and stop its load processes
run, and the session ends with pytest's "interrupted" status. Without the handler, Python
dies on SIGTERM at once and no finalizer runs (what the interrupt soak found,
docs/reliability.md)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from servegate.wait import poll

pytestmark = pytest.mark.integration

SUITE = textwrap.dedent(
    """
    import os, time
    from pathlib import Path

    import pytest

    OUT = Path(os.environ["SG_TEST_OUT"])

    @pytest.fixture(scope="session")
    def held():
        yield
        (OUT / "session-finalizer").write_text("ran")

    @pytest.fixture
    def per_test():
        yield
        (OUT / "test-finalizer").write_text("ran")

    def test_blocks(held, per_test):
        (OUT / "started").write_text(str(os.getpid()))
        time.sleep(3600)  # far longer than the signal takes to arrive
    """
)


def _start(tmp_path: Path, source: str = SUITE) -> subprocess.Popen[str]:
    (tmp_path / "test_blocking.py").write_text(source)
    env = {**os.environ, "SG_TEST_OUT": str(tmp_path)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-o",
            "addopts=",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_blocking.py"),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def test_sigterm_runs_the_finalizers_and_ends_as_interrupted(tmp_path: Path) -> None:
    proc = _start(tmp_path)
    try:
        assert poll(lambda: (tmp_path / "started").exists() or proc.poll() is not None, 120)
        assert proc.poll() is None, proc.communicate()[0]
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
    assert (tmp_path / "test-finalizer").read_text() == "ran", out
    assert (tmp_path / "session-finalizer").read_text() == "ran", out
    assert "SIGTERM" in out


def test_a_second_sigterm_does_not_cut_the_teardown_short(tmp_path: Path) -> None:
    """The teardown that the first SIGTERM started runs to its end whatever follows."""
    slow = SUITE.replace(
        '    (OUT / "test-finalizer").write_text("ran")',
        '    (OUT / "tearing").write_text("1")\n'
        '    while not (OUT / "go-on").exists():\n'
        "        time.sleep(0.05)\n"
        '    (OUT / "test-finalizer").write_text("ran")',
    )
    assert slow != SUITE
    proc = _start(tmp_path, slow)
    try:
        assert poll(lambda: (tmp_path / "started").exists() or proc.poll() is not None, 120)
        assert proc.poll() is None, proc.communicate()[0]
        proc.send_signal(signal.SIGTERM)
        assert poll(lambda: (tmp_path / "tearing").exists() or proc.poll() is not None, 120)
        proc.send_signal(signal.SIGTERM)  # in the middle of the teardown
        (tmp_path / "go-on").write_text("")
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
    assert (tmp_path / "test-finalizer").read_text() == "ran", out
    assert (tmp_path / "session-finalizer").read_text() == "ran", out
    assert "SIGTERM again" in out
