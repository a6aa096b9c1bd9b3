"""Build upstream Go commands inside a generated wrapper module, once per version.

``go install module/cmd/x@version`` refuses modules whose go.mod carries ``replace`` or
``exclude`` directives (KEDA, KServe), and looks up the module's newest version, which the
proxy may refuse to list (prometheus-adapter). A wrapper module that requires the exact
version and repeats the upstream directives (Go ignores a dependency's own) builds them with
``go build``; several commands of one module are built in one go so they share the compile.
Results are cached under the add-on cache, so only the first ``enable`` on a machine pays.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

from servegate.cluster import gomod
from servegate.cluster.addons.base import Progress
from servegate.cluster.gobuild import ProgressFn, build_streaming, go_binary, upstream_gomod
from servegate.errors import UserError

_DIRECTIVE = re.compile(r"^(replace|exclude)\b(.*)$")


def copied_directives(upstream: str, module: str = "the module") -> list[str]:
    """The ``replace`` and ``exclude`` directives of a go.mod, single-line and block forms,
    without comments. A local-directory replace cannot be repeated: a one-line error."""
    out: list[str] = []
    block: str | None = None
    for raw in upstream.splitlines():
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if block is not None:
            if line == ")":
                block = None
            else:
                out.append(f"{block} {line}")
            continue
        m = _DIRECTIVE.match(line)
        if m is None:
            continue
        verb, rest = m.group(1), m.group(2).strip()
        if rest == "(":
            block = verb
        else:
            out.append(f"{verb} {rest}")
    for d in out:
        if d.startswith("replace") and re.search(r"=>\s*\.{1,2}/", d):
            raise UserError(f"{module} go.mod has a local replace ({d}): cannot be wrapped")
    return out


def wrapper_gomod(name: str, module: str, version: str, upstream: str) -> str:
    """go.mod of the wrapper module ``name`` that builds ``module`` at ``version``."""
    lines = [
        f"module {gomod.WRAPPER_MODULE}/{name}",
        "",
        f"go {gomod.go_directive(upstream)}",
        "",
        f"require {module} {version}",
        "",
        *copied_directives(upstream, module),
        "",
    ]
    return "\n".join(lines)


def build(
    name: str,
    module: str,
    version: str,
    commands: dict[str, str],
    out_dir: Path,
    progress: Progress,
    ldflags: str = "-s -w",
    note: str = "",
) -> dict[str, Path]:
    """Build (or reuse) ``commands`` (binary name -> package path inside ``module``) into
    ``out_dir``; returns binary name -> path. ``note`` tells how long a cold build takes."""
    found = {b: out_dir / b for b in commands}
    if all(p.is_file() for p in found.values()):
        return found
    go = go_binary()
    env = gomod.build_env(dict(os.environ))
    work = out_dir.parent / f".{out_dir.name}.build"
    work.mkdir(parents=True, exist_ok=True)
    upstream = upstream_gomod(go, module, version, work, env)
    (work / "go.mod").write_text(wrapper_gomod(name, module, version, upstream))
    (work / "doc.go").write_text("// Package build anchors the wrapper module.\npackage build\n")
    tmp = work / "out"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    pkgs = [f"{module}/{path}" for path in commands.values()]
    cmd = ["nice", "-n", "10", go, "build", "-mod=mod", "-v", "-trimpath"]
    cmd += ["-ldflags", ldflags, "-o", f"{tmp}/", *pkgs]
    progress(f"add-on {name}: building {module} {version}" + (f" ({note})" if note else ""))
    t0 = time.monotonic()
    log = work / "build.log"
    build_streaming(cmd, work, log, env, name, 0, _every_200(name, progress))
    out_dir.mkdir(parents=True, exist_ok=True)
    for binary, path in commands.items():
        built = tmp / Path(path).name
        if not built.is_file():
            raise UserError(f"go build of {module} finished but {built} is missing; see {log}")
        shutil.move(str(built), out_dir / binary)
    progress(f"add-on {name}: built in {time.monotonic() - t0:.0f}s")
    shutil.rmtree(tmp, ignore_errors=True)
    return found


def _every_200(name: str, progress: Progress) -> ProgressFn:
    """gobuild's (label, done, total) progress as one line per 200 packages."""

    def report(_label: str, done: int, _total: int) -> None:
        if done and done % 200 == 0:
            progress(f"add-on {name}: {done} packages compiled")

    return report
