"""``servegate profiles validate FILE...`` and ``servegate profiles schema --out DIR``.

Every YAML file servegate reads names its model with a top-level ``kind:``. The registry
below maps each kind to its model; validation prints one ``file:line: field: message`` line
per problem. The JSON Schemas of these models are generated into ``schemas/`` (a test
fails when the committed copies are stale).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel, ValidationError

from servegate.config.base import format_validation_error, parse_yaml
from servegate.errors import ConfigError

# kind -> "module:Model". Models that do not declare a ``kind`` field are validated with the
# key removed, so a file can carry ``kind:`` before its model learns about it.
KINDS: dict[str, str] = {
    "Profile": "servegate.config.profile:Profile",
    "SLO": "servegate.config.slo:SLOSpec",
    "SimSettings": "servegate.sim.settings:SimSettings",
}
# Files written before their model had a ``kind`` field are classified by directory.
DIR_KINDS: dict[str, str] = {"slo": "SLO", "sim": "SimSettings"}
SCHEMA_FILES: dict[str, str] = {
    "Profile": "profile.schema.json",
    "SLO": "slo.schema.json",
    "SimSettings": "sim-settings.schema.json",
}


class KindUnavailable(Exception):
    """The model of a kind is not importable in this build."""


def model_for(kind: str) -> type[BaseModel]:
    target = KINDS[kind]
    module, attr = target.split(":")
    try:
        model: type[BaseModel] = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise KindUnavailable(f"the {kind} model ({target}) is not available: {exc}") from None
    return model


def validate_file(path: Path) -> tuple[str | None, list[str]]:
    """(kind, problems). Raises :class:`KindUnavailable` for a known kind without a model."""
    src = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        node, data = parse_yaml(text, src)
    except OSError as exc:
        return None, [f"{src}: cannot read: {exc.strerror or exc}"]
    except UnicodeDecodeError:
        return None, [f"{src}: not UTF-8 text"]
    except ConfigError as exc:
        return None, [str(exc)]
    if not isinstance(data, dict):
        return None, [f"{src}: expected a mapping with a 'kind:' field"]
    kind = data.get("kind")
    if kind is None and path.parent.name in DIR_KINDS and path.parent.parent.name == "loadprofiles":
        kind = DIR_KINDS[path.parent.name]
    if kind not in KINDS:
        known = ", ".join(sorted(KINDS))
        return None, [f"{src}:1: kind: {kind!r} is not a known kind ({known})"]
    model = model_for(str(kind))
    if "kind" not in model.model_fields:
        data = {k: v for k, v in data.items() if k != "kind"}
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return str(kind), format_validation_error(exc, src, node).splitlines()
    return str(kind), []


def schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema, for every kind whose model is importable."""
    out: dict[str, dict[str, Any]] = {}
    for kind, fname in SCHEMA_FILES.items():
        try:
            model = model_for(kind)
        except KindUnavailable:
            continue
        out[fname] = model.model_json_schema(mode="validation")
    return out


def render_schema(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


@click.group(name="profiles")
def profiles() -> None:
    """Validate load profiles (and other servegate YAML); export JSON Schemas."""


@profiles.command(name="validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check each FILE; print one line per problem; exit 1 if any."""
    bad = 0
    for f in files:
        try:
            kind, problems = validate_file(f)
        except KindUnavailable as exc:
            click.echo(f"{f}: skipped: {exc}")
            continue
        for line in problems:
            click.echo(line)
        if problems:
            bad += 1
        else:
            click.echo(f"{f}: ok ({kind})")
    if bad:
        raise SystemExit(1)


@profiles.command(name="schema")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("schemas"),
    show_default=True,
)
@click.option("--check", is_flag=True, help="Exit 1 if a file in --out differs; write nothing.")
def schema(out: Path, check: bool) -> None:
    """Write the JSON Schema of every config model to --out."""
    stale = []
    for fname, doc in schemas().items():
        path = out / fname
        text = render_schema(doc)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if check:
            stale.append(fname)
            continue
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        click.echo(f"wrote {path}")
    if stale:
        raise click.ClickException(
            f"stale schemas in {out}: {', '.join(stale)}; run 'servegate profiles schema'"
        )
