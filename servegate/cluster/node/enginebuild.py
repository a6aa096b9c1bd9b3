"""Build llama.cpp's ``llama-server`` (CPU only) from the sources PyPI serves.

The ``llama-cpp-python`` source distribution vendors llama.cpp (MIT, like the bindings):
``pip download`` fetches the pinned sdist (checked against its SHA-256), only
``vendor/llama.cpp`` is unpacked, and CMake builds the one ``llama-server`` target with
``-j2``. The result is cached under ``~/.cache/servegate/engine/`` keyed by the sdist
version, the CMake flags and the compiler, so a warm run compiles nothing. Progress is
make's percentage, reported through the same callback as the Go builds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from servegate.cluster.gobuild import ProgressFn
from servegate.cluster.node.layout import cache_root
from servegate.errors import UserError
from servegate.procs import run

SDIST = "llama-cpp-python"
SDIST_VERSION = "0.3.36"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
"""Of ``llama_cpp_python-0.3.36.tar.gz`` as PyPI serves it (checked after download)."""

CMAKE_FLAGS: tuple[str, ...] = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",  # libllama and libggml linked in: one binary
    "-DCMAKE_EXE_LINKER_FLAGS=-static-libstdc++ -static-libgcc",  # only glibc stays shared
    "-DGGML_NATIVE=OFF",  # the x86-64 AVX2/FMA/F16C baseline, not this host's exact CPU
    "-DGGML_OPENMP=OFF",
    "-DGGML_CCACHE=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_APP=OFF",
    "-DLLAMA_BUILD_UI=OFF",  # no web UI: no npm, and
    "-DLLAMA_USE_PREBUILT_UI=OFF",  # no download of a prebuilt one
    "-DLLAMA_OPENSSL=OFF",  # plain HTTP inside the cluster; no TLS, no curl
)
TARGET = "llama-server"
JOBS = "2"


@dataclass(frozen=True)
class EngineBuild:
    server: Path
    """The ``llama-server`` binary."""
    licence: Path
    """llama.cpp's LICENSE, shipped beside the binary and in the image."""
    cached: bool


def _compiler() -> str:
    cxx = shutil.which("c++") or shutil.which("g++")
    if cxx is None or shutil.which("cmake") is None:
        raise UserError(
            "building llama-server needs cmake and a C++ compiler: apt-get install cmake g++"
        )
    proc = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=False)
    return (proc.stdout.splitlines() or ["unknown"])[0]


def build_key() -> str:
    """What a build depends on: sdist version, CMake flags, target and compiler."""
    text = "\n".join((SDIST_VERSION, SDIST_SHA256, TARGET, *CMAKE_FLAGS, _compiler()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def engine_dir() -> Path:
    return cache_root() / "engine"


def output_dir() -> Path:
    """Where this build's ``llama-server`` and ``LICENSE`` go (or are)."""
    return engine_dir() / f"llama-server-{SDIST_VERSION}-{build_key()}"


def cached() -> EngineBuild | None:
    """The built llama-server if it is in the cache; None (nothing is compiled) otherwise."""
    out = output_dir()
    if (out / TARGET).is_file() and (out / "LICENSE").is_file():
        return EngineBuild(out / TARGET, out / "LICENSE", True)
    return None


def fetch_sdist(dest: Path) -> Path:
    """The pinned sdist, downloaded once with pip (``--no-binary``) and checked."""
    name = f"{SDIST.replace('-', '_')}-{SDIST_VERSION}.tar.gz"
    out = dest / name
    if not out.is_file():
        dest.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="sg-sdist-", dir=dest) as tmp:
            run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "--disable-pip-version-check",
                    "--no-input",
                    "download",
                    "--no-deps",
                    "--no-binary",
                    ":all:",
                    "-d",
                    tmp,
                    f"{SDIST}=={SDIST_VERSION}",
                ],
                f"pip download of the {SDIST} {SDIST_VERSION} sdist",
            )
            got = Path(tmp) / name
            if not got.is_file():
                raise UserError(f"pip download of {SDIST} {SDIST_VERSION} gave no {name}")
            got.replace(out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        out.unlink()
        raise UserError(f"{name}: SHA-256 {digest} is not the pinned {SDIST_SHA256}; removed")
    return out


def unpack_llama_cpp(sdist: Path, dest: Path) -> None:
    """Extract the sdist's ``vendor/llama.cpp`` (and nothing else) under ``dest``."""
    prefix = f"{SDIST.replace('-', '_')}-{SDIST_VERSION}/vendor/llama.cpp/"
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(prefix)]
        if not members:
            raise UserError(f"{sdist.name} has no vendor/llama.cpp: not the expected sdist")
        tar.extractall(dest, members=members, filter="data")


def _make_progress(line: str) -> int | None:
    """The percentage of a ``[ 42%] Building ...`` line of CMake's makefiles."""
    if line.startswith("[") and "%]" in line[:6]:
        try:
            return int(line[1:4])
        except ValueError:
            return None
    return None


def _stream(cmd: list[str], log: Path, label: str, progress: ProgressFn) -> None:
    last = ""
    with log.open("a", encoding="utf-8") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        fh.flush()
        with subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        ) as proc:
            assert proc.stdout is not None
            try:
                for line in proc.stdout:
                    fh.write(line)
                    last = line.strip() or last
                    pct = _make_progress(line)
                    if pct is not None:
                        progress(label, pct, 100)
            except BaseException:
                proc.kill()
                raise
    if proc.returncode != 0:
        raise UserError(f"building {label} failed ({last}); full log: {log}")


def _noop(label: str, done: int, total: int) -> None:
    """Default progress sink."""


def build(progress: ProgressFn = _noop) -> EngineBuild:
    """The cached ``llama-server`` of the pinned sources, compiling it (minutes) if needed."""
    done = cached()
    if done is not None:
        return done
    key = build_key()
    out = output_dir()
    label = f"llama-server ({SDIST} {SDIST_VERSION})"
    progress(label, 0, 100)
    sdist = fetch_sdist(engine_dir() / "src")
    # An interrupted build keeps its objects in work/: make picks up where it stopped.
    work = engine_dir() / f"work-{key}"
    work.mkdir(parents=True, exist_ok=True)
    log = work / "build.log"
    src, bld = work / "src", work / "build"
    if not (work / "unpacked").is_file():
        shutil.rmtree(src, ignore_errors=True)
        unpack_llama_cpp(sdist, src)
        (work / "unpacked").touch()
    root = src / f"{SDIST.replace('-', '_')}-{SDIST_VERSION}" / "vendor" / "llama.cpp"
    nice = ["nice", "-n", "10"]
    _stream([*nice, "cmake", "-S", str(root), "-B", str(bld), *CMAKE_FLAGS], log, label, progress)
    _stream(
        [*nice, "cmake", "--build", str(bld), "--target", TARGET, "-j", JOBS],
        log,
        label,
        progress,
    )
    part = out.with_name(out.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    part.mkdir(parents=True)
    shutil.copyfile(bld / "bin" / TARGET, part / TARGET)
    run(["strip", str(part / TARGET)], "strip llama-server")
    os.chmod(part / TARGET, 0o755)
    shutil.copyfile(root / "LICENSE", part / "LICENSE")
    shutil.rmtree(out, ignore_errors=True)
    part.replace(out)
    shutil.rmtree(work, ignore_errors=True)
    progress(label, 100, 100)
    return EngineBuild(out / TARGET, out / "LICENSE", False)


def shared_libraries(binary: Path) -> list[Path]:
    """The shared objects ``binary`` loads (its interpreter included), from ``ldd``."""
    proc = run(["ldd", str(binary)], f"ldd {binary.name}")
    libs: list[Path] = []
    for line in proc.stdout.splitlines():
        parts = line.split()
        path = parts[2] if len(parts) >= 3 and parts[1] == "=>" else parts[0] if parts else ""
        if path.startswith("/"):
            libs.append(Path(path))
    if not libs:
        raise UserError(f"ldd {binary} listed no libraries: {proc.stdout.strip()[:200]}")
    return libs
