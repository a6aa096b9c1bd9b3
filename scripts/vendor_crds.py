#!/usr/bin/env python3
"""Vendor the CRDs listed in manifests/crds/SOURCES.yaml from their upstream Go modules.

The CRD YAML is taken from the module zips served by the Go module proxy (the same bytes a
Go build of that version would see), so the schemas we validate against are the ones the
pinned operator versions install. ``--check`` is for CI: it compares instead of writing and
exits 1 on any difference, so a hand edit or a changed pin cannot go unnoticed.

Usage: python scripts/vendor_crds.py [--check] [--crds-dir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT / "manifests" / "crds"
SUMS_NAME = "SHA256SUMS"
# Files of ours beside the vendored ones (kustomization.yaml lists the CRDs for `apply -k`).
_OWN_FILES = {"SOURCES.yaml", "kustomization.yaml"}


class VendorError(Exception):
    """A one-line failure: bad SOURCES.yaml, no go, a module or file that cannot be had."""


def load_sources(crds_dir: Path) -> list[tuple[str, str, str]]:
    """Return (module, version, path-in-module) triples from SOURCES.yaml."""
    src = crds_dir / "SOURCES.yaml"
    try:
        doc = yaml.safe_load(src.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise VendorError(f"{src}: {exc}".splitlines()[0]) from exc
    out: list[tuple[str, str, str]] = []
    entries = doc.get("sources") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise VendorError(f"{src}: expected a mapping with a 'sources' list")
    for i, entry in enumerate(entries):
        try:
            module, version = str(entry["module"]), str(entry["version"])
            paths = [str(f["path"]) for f in entry["files"]]
        except (KeyError, TypeError) as exc:
            raise VendorError(f"{src}: sources[{i}] needs module, version, files[].path") from exc
        out.extend((module, version, p) for p in paths)
    names = [Path(p).name for _, _, p in out]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise VendorError(f"{src}: two sources share the file name(s) {sorted(dupes)}")
    return out


def module_dir(module: str, version: str) -> Path:
    """Download ``module@version`` through the Go module proxy; return its extracted dir."""
    if shutil.which("go") is None:
        raise VendorError("the 'go' tool is not on PATH (needed to fetch CRDs from the proxy)")
    env = dict(os.environ, GOFLAGS="-mod=mod")
    proc = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=600,
    )
    try:
        info: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        info = {}
    if proc.returncode != 0 or "Dir" not in info:
        detail = info.get("Error") or proc.stderr.strip().splitlines()[-1:] or ["unknown error"]
        raise VendorError(f"go mod download {module}@{version}: {detail}")
    return Path(info["Dir"])


def fetch_all(crds_dir: Path) -> dict[str, bytes]:
    """Return {file name: upstream bytes} for every file in SOURCES.yaml."""
    wanted: dict[str, bytes] = {}
    dirs: dict[tuple[str, str], Path] = {}
    for module, version, path in load_sources(crds_dir):
        key = (module, version)
        if key not in dirs:
            dirs[key] = module_dir(module, version)
        f = dirs[key] / path
        if not f.is_file():
            raise VendorError(f"{module}@{version} has no file {path}")
        wanted[Path(path).name] = f.read_bytes()
    return wanted


def sums_text(files: dict[str, bytes]) -> str:
    return "".join(f"{hashlib.sha256(b).hexdigest()}  {n}\n" for n, b in sorted(files.items()))


def vendored_names(crds_dir: Path) -> set[str]:
    return {p.name for p in crds_dir.glob("*.yaml") if p.name not in _OWN_FILES}


def check(crds_dir: Path, wanted: dict[str, bytes]) -> list[str]:
    """Differences between the vendored tree and upstream, one line each."""
    diffs = []
    for name, data in sorted(wanted.items()):
        local = crds_dir / name
        if not local.is_file():
            diffs.append(f"missing: {local}")
        elif local.read_bytes() != data:
            diffs.append(f"differs from upstream: {local}")
    diffs += [
        f"not in SOURCES.yaml: {crds_dir / n}"
        for n in sorted(vendored_names(crds_dir) - set(wanted))
    ]
    sums = crds_dir / SUMS_NAME
    if not sums.is_file() or sums.read_text() != sums_text(wanted):
        diffs.append(f"stale: {sums}")
    return diffs


def write(crds_dir: Path, wanted: dict[str, bytes]) -> None:
    for name in vendored_names(crds_dir) - set(wanted):
        (crds_dir / name).unlink()
    for name, data in wanted.items():
        (crds_dir / name).write_bytes(data)
    (crds_dir / SUMS_NAME).write_text(sums_text(wanted))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on drift")
    parser.add_argument("--crds-dir", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    crds_dir: Path = args.crds_dir
    try:
        # go uses its ordinary module cache (GOMODCACHE), so a second run is offline.
        wanted = fetch_all(crds_dir)
        if args.check:
            diffs = check(crds_dir, wanted)
        else:
            write(crds_dir, wanted)
            diffs = []
    except (VendorError, subprocess.TimeoutExpired, OSError) as exc:
        print(f"vendor_crds: {exc}", file=sys.stderr)
        return 2
    for line in diffs:
        print(f"vendor_crds: {line}", file=sys.stderr)
    if args.check:
        print(f"vendor_crds: {'drift found' if diffs else 'up to date'} ({len(wanted)} files)")
    else:
        print(f"vendor_crds: wrote {len(wanted)} files to {crds_dir}")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
