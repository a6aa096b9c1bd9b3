"""The CLI and pytest side of the load engine must never import gevent or Locust."""

from __future__ import annotations

import subprocess
import sys

PURE = [
    "servegate.cli.run",
    "servegate.cli.profiles",
    "servegate.load.runner",
    "servegate.load.meta",
    "servegate.load.endpoint",
    "servegate.load.shapes",
    "servegate.load.pacer",
    "servegate.load.sse",
    "servegate.load.openai",
    "servegate.load.prompts",
    "servegate.load.tally",
]


def test_pure_modules_do_not_pull_in_gevent() -> None:
    code = (
        "import importlib, sys\n"
        f"for m in {PURE!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('gevent', 'locust'))\n"
        "print(' '.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
