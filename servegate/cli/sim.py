"""``servegate sim``: one flag per simulator setting, generated from the settings model."""

from __future__ import annotations

import os
import typing
from collections.abc import Callable
from typing import Any

import click

from servegate.errors import UserError
from servegate.sim.settings import ENV_PREFIX, SimSettings, load_settings


def _option(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    field = SimSettings.model_fields[name]
    flag = "--" + name.replace("_", "-")
    help_text = f"{field.description} [env {ENV_PREFIX}{name.upper()}; default {field.default}]"
    ann = field.annotation
    if ann is bool:
        return click.option(f"{flag}/--no-{flag[2:]}", name, default=None, help=help_text)
    if typing.get_origin(ann) is typing.Literal:
        choice = click.Choice([str(a) for a in typing.get_args(ann)])
        return click.option(flag, name, type=choice, default=None, help=help_text)
    ptype: Any = ann if ann in (int, float) else str
    return click.option(flag, name, type=ptype, default=None, help=help_text)


def _with_setting_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for name in reversed(list(SimSettings.model_fields)):
        f = _option(name)(f)
    return f


@click.command(name="sim", context_settings={"max_content_width": 100})
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    default=None,
    help="YAML file of settings (precedence: flags > env > file > defaults).",
)
@click.option("--print-settings", is_flag=True, help="Print the merged settings as YAML; exit.")
@_with_setting_options
def sim(config: str | None, print_settings: bool, **flags: Any) -> None:
    """Run the OpenAI-compatible model-server simulator (a stand-in for vLLM)."""
    try:
        settings = load_settings(config, os.environ, flags)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    if print_settings:
        import yaml

        click.echo(yaml.safe_dump(settings.model_dump(), sort_keys=False), nl=False)
        return
    from servegate.sim.server import run

    try:
        run(settings)
    except (OSError, UserError) as exc:  # a port taken, an unusable model cache
        raise click.ClickException(str(exc)) from None
