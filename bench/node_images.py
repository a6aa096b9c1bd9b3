"""Build times of the node's images: cold (empty cache) versus warm (cached), same run.

    .venv/bin/python bench/node_images.py [--cold] [--repeat 5] [--only ray]

Warm builds are repeated and printed as median and spread; ``--cold`` first builds every
image into an empty cache directory (debootstrap, wheel downloads and Go compiles included:
minutes, and it needs the Debian mirror and PyPI). The baseline in the same run is a
warm re-pack of the pause image's tarball without any cache (pure packing cost).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from servegate.cluster.node import gobuild, images
from servegate.cluster.node.oci import FileEntry, ImageConfig, files_layer, write_archive


def _time(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _fmt(samples: list[float]) -> str:
    med = statistics.median(samples)
    return (
        f"median {med:8.3f}s  min {min(samples):8.3f}s  max {max(samples):8.3f}s  n={len(samples)}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cold", action="store_true", help="also build into an empty cache")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", action="append", choices=sorted(images.BUILDERS), help="these only")
    args = ap.parse_args()
    builders = {n: b for n, b in images.BUILDERS.items() if not args.only or n in args.only}

    if args.cold:
        with tempfile.TemporaryDirectory(prefix="sg-bench-cache-") as tmp:
            old = os.environ.get("XDG_CACHE_HOME")
            os.environ["XDG_CACHE_HOME"] = tmp
            os.environ["GOCACHE"] = str(Path(tmp) / "go-build")
            try:
                for name, build in builders.items():
                    print(f"cold  {name:6s} {_time(build):8.1f}s", flush=True)
            finally:
                if old is None:
                    del os.environ["XDG_CACHE_HOME"]
                else:
                    os.environ["XDG_CACHE_HOME"] = old
                del os.environ["GOCACHE"]

    for name, build in builders.items():
        build()  # make sure the cache is filled
        samples = [_time(build) for _ in range(args.repeat)]
        print(f"warm  {name:6s} {_fmt(samples)}", flush=True)

    data = gobuild.build("pause").read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "p.tar"

        def pack() -> None:
            layer = files_layer([FileEntry("/pause", data)])
            write_archive(images.PAUSE, [layer], ImageConfig(["/pause"]), out)

        print(f"base  pack   {_fmt([_time(pack) for _ in range(args.repeat)])}")


if __name__ == "__main__":
    main()
