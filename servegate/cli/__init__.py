"""The ``servegate`` command line.

Subcommands live in their own modules and are imported only when invoked, so that
``servegate --help`` stays fast and no heavy library (Locust, the Kubernetes client) is
imported by a command that does not need it. To add one, map its name to
``"module:attribute"`` (a click command) in ``_COMMANDS``.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

_COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module:attribute, one-line help shown by `servegate --help`)
    "sim": ("servegate.cli.sim:sim", "Run the OpenAI-compatible model-server simulator."),
    "run": ("servegate.cli.run:run", "Run a load profile against an endpoint and write a report."),
    "calibrate": (
        "servegate.cli.calibrate:calibrate",
        "Measure this machine's load-generator ceiling and timing error.",
    ),
    "report": ("servegate.cli.report:report", "Re-render report.md/html from a results directory."),
    "compare": ("servegate.cli.compare:compare", "Compare two runs; non-zero exit on regression."),
    "history": (
        "servegate.cli.history:history",
        "Headline figures over nightly results, with change points.",
    ),
    "export": (
        "servegate.cli.export:export",
        "Export a run as an llm-d Benchmark Report (v0.2).",
    ),
    "profiles": ("servegate.cli.profiles:profiles", "Validate load profiles; export JSON Schemas."),
    "render": ("servegate.cli.render:render", "Render a manifest unit with kustomize."),
    "lint": ("servegate.cli.lint:lint", "Static GenAI-serving checks on Kubernetes manifests."),
    "cluster": ("servegate.cli.cluster:cluster", "Manage the embedded local cluster."),
    "engine": (
        "servegate.cli.engine:engine",
        "Build, run or load the real CPU engine (llama.cpp's llama-server).",
    ),
    "llmd-sim": (
        "servegate.cli.llmdsim:llmd_sim",
        "Build, run or load llm-d-inference-sim, a second vLLM-shaped server.",
    ),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = _COMMANDS.get(cmd_name)
        if entry is None:
            return None
        target, short = entry
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise

            @click.command(name=cmd_name, help=short)
            def _missing() -> None:
                raise click.ClickException(f"'servegate {cmd_name}' is not available in this build")

            return _missing
        cmd: click.Command = getattr(module, attr)
        if cmd.short_help is None:
            cmd.short_help = short
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _COMMANDS[name][1]) for name in sorted(_COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="servegate")
def cli() -> None:
    """servegate: conformance and benchmarks for GenAI serving on Kubernetes."""


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point. Errors are one line on stderr and a non-zero exit."""
    try:
        return cli.main(args=argv, prog_name="servegate", standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover - click handles most of these
        click.echo("servegate: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
