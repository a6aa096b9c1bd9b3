"""Build upstream binaries from the Go module proxy, with progress and a log file.

Progress is the number of packages ``go build -v`` has reported against the dependency
count ``go list -deps`` gives first; Go's own build cache makes a rebuild after an
interrupted run fast.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from servegate.cluster import gomod
from servegate.cluster.versions import Versions
from servegate.errors import UserError

#: Called with (label, packages done, packages total or 0 while counting).
ProgressFn = Callable[[str, int, int], None]


def _noop(label: str, done: int, total: int) -> None:
    """Default progress sink."""


def go_binary() -> str:
    """Path of ``go``, or a one-line error with the next step."""
    go = shutil.which("go")
    if go is None:
        raise UserError(
            "building the local cluster needs Go >= 1.23 on PATH (or prebuilt binaries: "
            "set SERVEGATE_BIN_DIR)"
        )
    return go


def _write_files(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if not p.exists() or p.read_text("utf-8") != text:
            p.write_text(text, "utf-8")


def _run(cmd: list[str], cwd: Path, log: Path, env: dict[str, str]) -> str:
    with log.open("a", encoding="utf-8") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
        fh.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise UserError(f"{' '.join(cmd[:3])} failed in {cwd} ({tail}); full log: {log}")
    return proc.stdout


def build_streaming(
    cmd: list[str],
    cwd: Path,
    log: Path,
    env: dict[str, str],
    label: str,
    total: int,
    progress: ProgressFn,
) -> None:
    """Run ``go build -v`` and count the package lines it prints on stderr."""
    done = 0
    last_line = ""
    with log.open("a", encoding="utf-8") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        fh.flush()
        # the context manager closes the stderr pipe; an interrupt ends the build first
        with subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.PIPE, text=True, bufsize=1
        ) as proc:
            assert proc.stderr is not None
            try:
                for line in proc.stderr:
                    fh.write(line)
                    last_line = line.strip() or last_line
                    if line and not line.startswith(("#", " ", "\t", "go: ")):
                        done += 1
                        progress(label, min(done, total) if total else done, total)
            except BaseException:
                proc.kill()
                raise
        rc = proc.returncode
    if rc != 0:
        raise UserError(f"go build of {label} failed ({last_line}); full log: {log}")
    progress(label, total or done, total or done)


def _count_deps(go: str, pkgs: list[str], cwd: Path, log: Path, env: dict[str, str]) -> int:
    out = _run([go, "list", "-mod=mod", "-deps", *pkgs], cwd, log, env)
    return max(1, len(out.split()))


def upstream_gomod(go: str, module: str, version: str, cwd: Path, env: dict[str, str]) -> str:
    """Fetch a module's go.mod through the proxy (``go mod download -json``)."""
    proc = subprocess.run(
        [go, "mod", "download", "-json", f"{module}@{version}"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        info = json.loads(proc.stdout)
        return Path(info["GoMod"]).read_text("utf-8")
    except (ValueError, KeyError, OSError):
        reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(
            f"cannot fetch {module}@{version} from the Go module proxy: {reason}"
        ) from None


def _begin(work: Path, label: str, progress: ProgressFn) -> tuple[str, dict[str, str], Path]:
    """``go``, the build environment and the log file of a build in ``work``, announced."""
    go = go_binary()
    env = gomod.build_env(dict(os.environ))
    work.mkdir(parents=True, exist_ok=True)
    progress(label, 0, 0)
    return go, env, work / "build.log"


def build_kubernetes(
    versions: Versions, names: list[str], out_dir: Path, work: Path, progress: ProgressFn = _noop
) -> dict[str, Path]:
    """Build the named Kubernetes commands in one ``go build``; return name -> binary path."""
    label = f"kubernetes {versions.kubernetes}"
    go, env, log = _begin(work, label, progress)
    text = upstream_gomod(go, "k8s.io/kubernetes", versions.kubernetes, work, env)
    _write_files(work, gomod.kubernetes_wrapper(versions, text))
    pkgs = gomod.kubernetes_packages(tuple(names))
    total = _count_deps(go, pkgs, work, log, env)
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        go,
        "build",
        "-mod=mod",
        "-v",
        "-trimpath",
        "-ldflags",
        gomod.kubernetes_ldflags(versions.kubernetes),
        "-o",
        f"{out_dir}/",
        *pkgs,
    ]
    build_streaming(cmd, work, log, env, label, total, progress)
    return {n: out_dir / n for n in names}


def build_etcd(versions: Versions, out: Path, work: Path, progress: ProgressFn = _noop) -> Path:
    """Build etcd from a one-file wrapper around ``etcdmain.Main``."""
    label = f"etcd {versions.etcd}"
    go, env, log = _begin(work, label, progress)
    _write_files(work, gomod.etcd_wrapper(versions))
    total = _count_deps(go, ["."], work, log, env)
    cmd = [go, "build", "-mod=mod", "-v", "-trimpath", "-ldflags", "-s -w", "-o", str(out), "."]
    build_streaming(cmd, work, log, env, label, total, progress)
    return out


def build_kwok(versions: Versions, out: Path, work: Path, progress: ProgressFn = _noop) -> Path:
    """``go install sigs.k8s.io/kwok/cmd/kwok@<tag>`` into a private GOBIN."""
    label = f"kwok {versions.kwok}"
    go, env, log = _begin(work, label, progress)
    gobin = work / "bin"
    gobin.mkdir(parents=True, exist_ok=True)
    env["GOBIN"] = str(gobin)
    started = time.monotonic()
    cmd = [
        go,
        "install",
        "-v",
        "-trimpath",
        "-ldflags",
        "-s -w",
        f"{versions.kwok_module}@{versions.kwok}",
    ]
    # go install pkg@version ignores any go.mod: run it where none is found.
    build_streaming(cmd, work, log, env, label, 0, progress)
    built = gobin / "kwok"
    if not built.exists():
        raise UserError(
            f"go install of kwok finished after {time.monotonic() - started:.0f}s "
            f"but {built} is missing; see {log}"
        )
    shutil.move(str(built), out)
    return out


#: Signature shared by :func:`build_etcd` and :func:`build_kwok`.
Builder = Callable[[Versions, Path, Path, ProgressFn], Path]
