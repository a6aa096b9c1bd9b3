"""Generated Go wrapper modules for building upstream binaries from the Go module proxy.

``k8s.io/kubernetes`` cannot be built with ``go install pkg@version``: its go.mod requires the
``k8s.io/<staging>`` modules at v0.0.0 and replaces them with directories inside its own
repository. A small wrapper module requires it and replaces each staging module with the
published ``v0.Y.Z`` instead. etcd's server module likewise carries local replace lines, so
a one-file ``main`` package calls ``etcdmain.Main``. Everything here is pure text generation,
so it is unit-tested without Go.
"""

from __future__ import annotations

import re

from servegate.cluster.versions import KUBERNETES_BINARIES, Versions

WRAPPER_MODULE = "servegate.invalid/build"
_STAGING = re.compile(r"^\s*(k8s\.io/[A-Za-z0-9._-]+)\s+=>\s+\./staging/src/", re.MULTILINE)
_GO_DIRECTIVE = re.compile(r"^go\s+(\d+\.\d+(?:\.\d+)?)\s*$", re.MULTILINE)
_GODEBUG = re.compile(r"^godebug\s+default=(\S+)\s*$", re.MULTILINE)


def staging_modules(upstream_gomod: str) -> list[str]:
    """The staging modules that k8s.io/kubernetes' go.mod replaces with local directories."""
    found = sorted(set(_STAGING.findall(upstream_gomod)))
    if not found:
        raise ValueError("no './staging/src' replace lines: is this k8s.io/kubernetes' go.mod?")
    return found


def go_directive(upstream_gomod: str) -> str:
    """The ``go`` line of a go.mod, so the wrapper builds with the same language version."""
    m = _GO_DIRECTIVE.search(upstream_gomod)
    return m.group(1) if m else "1.23"


def kubernetes_wrapper(versions: Versions, upstream_gomod: str) -> dict[str, str]:
    """Files of the wrapper module (relative path -> content) for ``versions.kubernetes``."""
    go = go_directive(upstream_gomod)
    lines = [f"module {WRAPPER_MODULE}/kubernetes", "", f"go {go}", ""]
    godebug = _GODEBUG.search(upstream_gomod)
    if godebug:
        lines += [f"godebug default={godebug.group(1)}", ""]
    lines += [f"require k8s.io/kubernetes {versions.kubernetes}", "", "replace ("]
    files: dict[str, str] = {}
    for mod in staging_modules(upstream_gomod):
        if mod in versions.staging_stubs:
            stub = "stub/" + mod.removeprefix("k8s.io/")
            lines.append(f"\t{mod} => ./{stub}")
            files[f"{stub}/go.mod"] = f"module {mod}\n\ngo {go}\n"
        else:
            pinned = versions.staging_overrides.get(mod, versions.staging_version)
            lines.append(f"\t{mod} => {mod} {pinned}")
    lines += [")", ""]
    files["go.mod"] = "\n".join(lines)
    # A package in the main module keeps `go` commands happy about an otherwise empty module.
    files["doc.go"] = "// Package build only anchors the generated wrapper module.\npackage build\n"
    return files


def kubernetes_packages(names: tuple[str, ...] = KUBERNETES_BINARIES) -> list[str]:
    """Import paths of the commands to build."""
    return [f"k8s.io/kubernetes/cmd/{n}" for n in names]


def kubernetes_ldflags(version: str) -> str:
    """Strip symbols and stamp the version, so ``--version`` and version checks see it."""
    major, minor = version.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
            # A fixed date keeps the link step reproducible and cacheable.
            f"-X {pkg}.buildDate=1970-01-01T00:00:00Z",
        ]
    return " ".join(flags)


def etcd_wrapper(versions: Versions) -> dict[str, str]:
    """Files of a one-command module that runs etcd's own ``etcdmain.Main``."""
    gomod = (
        f"module {WRAPPER_MODULE}/etcd\n\ngo 1.23\n\n"
        f"require {versions.etcd_module} {versions.etcd}\n"
    )
    main = (
        "// Command etcd runs the upstream etcd server, built from the Go module proxy.\n"
        "package main\n\n"
        'import (\n\t"os"\n\n'
        f'\t"{versions.etcd_module}/etcdmain"\n)\n\n'
        "func main() {\n\tetcdmain.Main(os.Args)\n}\n"
    )
    return {"go.mod": gomod, "main.go": main}


def build_env(base: dict[str, str]) -> dict[str, str]:
    """Environment for ``go build``: static binaries, module mode, no toolchain download."""
    env = dict(base)
    env.update({"CGO_ENABLED": "0", "GO111MODULE": "on", "GOTOOLCHAIN": "local"})
    return env
