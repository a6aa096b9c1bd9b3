"""``servegate engine build|serve|load``: the real CPU engine (llama.cpp's llama-server)."""

from __future__ import annotations

import os

import click

from servegate.errors import UserError


@click.group()
def engine() -> None:
    """Build, run or load llama-server with servegate's tiny model (docs/engine.md)."""


@engine.command()
@click.option("--image/--no-image", default=True, show_default=True, help="also pack the image")
def build(image: bool) -> None:
    """Compile llama-server (cached), write the model (cached), pack the image (cached)."""
    import time

    from servegate.cli.cluster import building
    from servegate.cluster.node import enginebuild, images, tinymodel

    t0 = time.monotonic()
    with building("%") as report:
        server = enginebuild.build(report)
        model = tinymodel.build()
        built = images.engine(report) if image else None
    how = "cached" if server.cached else "compiled"
    click.echo(f"llama-server: {server.server} ({how})")
    click.echo(f"model:        {model}")
    if built is not None:
        click.echo(f"image:        {built.ref} -> {built.tarball}")
    click.echo(f"took {time.monotonic() - t0:.1f}s")


@engine.command(context_settings={"ignore_unknown_options": True})
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
def serve(host: str, port: int, extra: tuple[str, ...]) -> None:
    """Run llama-server in the foreground with the overlay's flags; EXTRA flags go to it."""
    from servegate.cluster.node import enginebuild, tinymodel
    from servegate.cluster.node.engineproc import OVERLAY_FLAGS

    try:
        server = enginebuild.build()
        model = tinymodel.build()
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    argv = [str(server.server), "--model", str(model), "--host", host, "--port", str(port)]
    os.execv(argv[0], [*argv, *OVERLAY_FLAGS, *extra])


@engine.command()
@click.option("--provider", type=click.Choice(["local", "kind"]), default="local")
@click.option("--name", default=None, help="cluster name [local; servegate for kind]")
def load(provider: str, name: str | None) -> None:
    """Build (cached) and load the engine image into a running local or kind cluster."""
    from servegate.cli.cluster import load_images_command

    load_images_command(provider, name, ("engine",), "%")
