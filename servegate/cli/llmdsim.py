"""``servegate llmd-sim build|serve|load``: llm-d-inference-sim, a second vLLM-shaped server."""

from __future__ import annotations

import os

import click

from servegate.errors import UserError


@click.group(name="llmd-sim")
def llmd_sim() -> None:
    """Build, run or load llm-d-inference-sim, built from the Go module proxy (docs/engine.md)."""


@llmd_sim.command()
@click.option("--image/--no-image", default=True, show_default=True, help="also pack the image")
def build(image: bool) -> None:
    """Compile llm-d-inference-sim (cached) and pack its image (cached)."""
    import time

    from servegate.cli.cluster import building
    from servegate.cluster.node import images, llmdsim

    t0 = time.monotonic()
    with building("packages") as report:
        sim = llmdsim.build(report)
        built = images.llmd_sim(report) if image else None
    click.echo(f"{llmdsim.BINARY}: {sim.binary} ({'cached' if sim.cached else 'compiled'})")
    if built is not None:
        click.echo(f"image: {built.ref} -> {built.tarball}")
    click.echo(f"took {time.monotonic() - t0:.1f}s")


@llmd_sim.command(context_settings={"ignore_unknown_options": True})
@click.option("--port", default=8000, show_default=True, type=int)
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
def serve(port: int, extra: tuple[str, ...]) -> None:
    """Run it in the foreground with the overlay's flags (it listens on every IPv4 address:
    it has no address flag); EXTRA flags go to it."""
    from servegate.cluster.node import llmdsim

    try:
        sim = llmdsim.build()
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    argv = [str(sim.binary), "--port", str(port), *llmdsim.SERVE_FLAGS, *extra]
    os.execv(argv[0], argv)


@llmd_sim.command()
@click.option("--provider", type=click.Choice(["local", "kind"]), default="local")
@click.option("--name", default=None, help="cluster name [local; servegate for kind]")
def load(provider: str, name: str | None) -> None:
    """Build (cached) and load its image into a running local or kind cluster."""
    from servegate.cli.cluster import load_images_command

    load_images_command(provider, name, ("llmd-sim",), "packages")
