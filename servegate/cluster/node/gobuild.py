"""Build the node's small Go programs (pause, probe, fakegpu) as static binaries.

Sources live in ``images/<name>/`` of the repository. Builds are cached under the user
cache directory keyed by a hash of the sources and the Go version, so a second ``up`` does
not compile anything.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from servegate.cluster.node.layout import cache_root
from servegate.errors import UserError
from servegate.paths import IMAGES
from servegate.procs import run

SOURCES = IMAGES
"""The repository's images/ directory (sources of the locally built programs and images)."""


def _go() -> str:
    go = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if go is None:
        raise UserError("Go toolchain not found: install Go to build the node's images")
    return go


def source_hash(src: Path, go_version: str) -> str:
    """Hash of every build input under ``src`` plus the toolchain version."""
    h = hashlib.sha256(go_version.encode())
    for path in sorted(src.rglob("*")):
        if path.is_file() and path.suffix in {".go", ".mod", ".sum"}:
            h.update(str(path.relative_to(src)).encode() + b"\0")
            h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def build(name: str, src_root: Path = SOURCES) -> Path:
    """Return a cached static build of images/<name>, compiling it if needed."""
    src = src_root / name
    if not (src / "go.mod").is_file():
        raise UserError(f"no Go sources for {name!r} at {src}")
    go = _go()
    version = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=False)
    key = source_hash(src, version.stdout.strip())[:16]
    out = cache_root() / "node" / "bin" / f"{name}-{key}"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    run(
        ["nice", "-n", "10", go, "build", "-trimpath", "-ldflags", "-s -w", "-o", str(tmp), "."],
        f"go build of {name}",
        cwd=src,
        env=dict(os.environ, CGO_ENABLED="0"),
    )
    tmp.replace(out)
    return out


def go_install(package: str, version: str, out: Path, env: dict[str, str] | None = None) -> Path:
    """``go install package@version`` into ``out`` (a static binary), unless ``out`` exists.

    The module proxy is reached on the first build only; Go's module and build caches make a
    rebuild after an interrupted run cheap. ``out`` is written last, so a half build is never
    taken for a finished one."""
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    gobin = out.parent / f".{out.name}.build"
    shutil.rmtree(gobin, ignore_errors=True)
    full_env = dict(os.environ, CGO_ENABLED="0", GOBIN=str(gobin), GOTOOLCHAIN="local")
    full_env.update(env or {})
    argv = ["nice", "-n", "10", _go(), "install", "-trimpath", "-ldflags", "-s -w"]
    run([*argv, f"{package}@{version}"], f"building {package}@{version}", env=full_env)
    built = [p for p in gobin.iterdir() if p.is_file()] if gobin.is_dir() else []
    if len(built) != 1:
        raise UserError(f"building {package}@{version} produced {len(built)} binaries, not one")
    built[0].replace(out)
    shutil.rmtree(gobin, ignore_errors=True)
    return out
