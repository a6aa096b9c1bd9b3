"""``servegate render``: print a manifest unit as kustomize renders it, optionally validated."""

from __future__ import annotations

import click

from servegate.errors import UserError
from servegate.k8s.render import parse_objects, render_yaml, resolve_unit
from servegate.k8s.validate import DEFAULT_K8S_VERSION, validate_objects


@click.command(name="render")
@click.argument("unit")
@click.option(
    "--overlay",
    default=None,
    metavar="NAME",
    help="Overlay of the unit to render (sim, gpu, ...); default: the unit directory itself.",
)
@click.option("--validate", "do_validate", is_flag=True, help="Schema-check every object.")
@click.option(
    "--k8s-version",
    default=DEFAULT_K8S_VERSION,
    show_default=True,
    help="Kubernetes version whose OpenAPI schemas --validate uses.",
)
def render(unit: str, overlay: str | None, do_validate: bool, k8s_version: str) -> None:
    """Render UNIT (a directory, or a name under manifests/) with the pinned kustomize.

    With --validate, schema problems go to stderr, one per line, and the exit code is 1.
    """
    try:
        path = resolve_unit(unit, overlay)
        text = render_yaml(path)
        objs = parse_objects(text, str(path))
        problems = validate_objects(objs, k8s_version=k8s_version) if do_validate else []
    except UserError as exc:
        raise click.ClickException(str(exc)) from exc
    if do_validate and problems:
        for p in problems:
            click.echo(f"{path}: {p}", err=True)
        raise click.exceptions.Exit(1)
    click.echo(text, nl=False)
