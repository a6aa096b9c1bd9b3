"""``servegate cluster up|down|status|kubeconfig|build|image|addons|sockets``: the local cluster."""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from servegate.errors import UserError
from servegate.paths import DEFAULT_FLEET

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from servegate.cluster.gobuild import ProgressFn

_DEFAULT_FLEET = DEFAULT_FLEET


def _progress_printer(unit: str = "packages") -> tuple[ProgressFn, Progress | None]:
    """A rich progress bar on a terminal, a line every 15 s otherwise (CI logs); ``unit``
    names what is counted (Go packages; make's per cent for the engine)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if sys.stderr.isatty():
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(unit),
            TimeElapsedColumn(),
            transient=False,
        )
        tasks: dict[str, TaskID] = {}

        def report(label: str, done: int, total: int) -> None:
            if label not in tasks:
                progress.start()
                tasks[label] = progress.add_task(f"building {label}", total=total or None)
            progress.update(tasks[label], completed=done, total=total or None)

        return report, progress
    last: dict[str, float] = {}

    def report_plain(label: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - last.get(label, 0.0) >= 15 or (total and done >= total):
            last[label] = now
            of = f"/{total}" if total else ""
            click.echo(f"building {label}: {done}{of} {unit}", err=True)

    return report_plain, None


@contextlib.contextmanager
def building(unit: str = "packages") -> Iterator[ProgressFn]:
    """Progress for a build (:func:`_progress_printer`) for the block's duration: the bar is
    stopped whatever happens, and a UserError becomes the command's one-line error."""
    report, bar = _progress_printer(unit)
    try:
        yield report
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if bar is not None:
            bar.stop()


def load_images_command(
    provider: str, name: str | None, images: tuple[str, ...], unit: str
) -> None:
    """Build (cached) and load ``images`` into a running local or kind cluster, with
    progress; what ``servegate engine load`` and ``servegate llmd-sim load`` do."""
    from servegate.cluster.providers import provider as make_provider

    with building(unit) as report:
        prov = make_provider(
            provider, name=name or ("servegate" if provider == "kind" else "local")
        )
        refs = prov.load_images(images, report)
    click.echo(f"loaded {', '.join(refs)}")


def _fail(exc: UserError) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group()
def cluster() -> None:
    """Manage the embedded local cluster (real control plane, kwok GPU fleet, one real node)."""


_PROVIDER = click.option(
    "--provider",
    type=click.Choice(["local", "kind"]),
    default="local",
    show_default=True,
    help="local: the embedded cluster; kind: a kind cluster in Docker (docs/kind.md)",
)
_NAME = click.option(
    "--name",
    default=None,
    help="cluster name [default: local for the local provider, servegate for kind]",
)


def _name(provider: str, name: str | None) -> str:
    return name or ("servegate" if provider == "kind" else "local")


def _kind(name: str, image: str | None = None) -> tuple[Any, Progress | None]:
    from servegate.cluster.providers import provider

    def log(message: str) -> None:
        click.echo(message, err=True)

    report, bar = _progress_printer()
    return provider("kind", name=name, image=image, log=log, progress=report), bar


@cluster.command()
@_PROVIDER
@_NAME
@click.option(
    "--kind-image",
    default=None,
    envvar="SERVEGATE_KIND_IMAGE",
    help="kind only: a node image to use instead of servegate's offline build",
)
@click.option(
    "--fleet",
    "fleet_file",
    type=click.Path(path_type=Path),
    default=None,
    help=f"fleet file of kwok GPU nodes [default: {_DEFAULT_FLEET.name} if present]",
)
@click.option("--no-fleet", is_flag=True, help="no kwok nodes")
@click.option("--no-node", is_flag=True, help="no real node (control plane and kwok only)")
@click.option(
    "--port-slot",
    type=int,
    default=0,
    show_default=True,
    help="port block 16440+10*N, to run a second cluster beside the first",
)
@click.option(
    "--bin-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    envvar="SERVEGATE_BIN_DIR",
    help="directory of prebuilt binaries to use first",
)
@click.option("--no-build", is_flag=True, help="fail instead of building missing binaries")
def up(
    provider: str,
    name: str | None,
    kind_image: str | None,
    fleet_file: Path | None,
    no_fleet: bool,
    no_node: bool,
    port_slot: int,
    bin_dir: Path | None,
    no_build: bool,
) -> None:
    """Start the cluster (idempotent); wait until every node is Ready; print timings."""
    from servegate.cluster.local import LocalCluster

    name = _name(provider, name)
    if provider == "kind":
        _kind_up(name, kind_image)
        return
    if fleet_file is None and not no_fleet and _DEFAULT_FLEET.exists():
        fleet_file = _DEFAULT_FLEET
    with building() as report:
        local = LocalCluster(name, slot=port_slot, log=lambda m: click.echo(m, err=True))
        result = local.up(
            None if no_fleet else fleet_file,
            node=not no_node,
            bin_dir=bin_dir,
            allow_build=not no_build,
            progress=report,
        )
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    if result.already_up:
        click.echo(f"cluster {name} is already up: {result.nodes_ready} nodes Ready")
    else:
        steps = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items() if k != "total")
        click.echo(
            f"cluster {name} up in {result.timings['total']:.1f}s "
            f"({result.nodes_ready} nodes Ready): {steps}"
        )
        srcs = ", ".join(f"{k}={v}" for k, v in sorted(result.sources.items()))
        click.echo(f"binaries: {srcs}")
    click.echo(f"export KUBECONFIG={result.kubeconfig}  # context {result.context}")


def _kind_up(name: str, image: str | None) -> None:
    prov, bar = _kind(name, image)
    try:
        access = prov.up()
    except UserError as exc:
        raise _fail(exc) from None
    finally:
        if bar is not None:
            bar.stop()
    done = prov.last_up
    if done is not None and not done.created:
        click.echo(f"kind cluster {name} is already up")
    elif done is not None:
        steps = ", ".join(f"{k} {v:.1f}s" for k, v in done.timings.items() if k != "total")
        click.echo(f"kind cluster {name} up in {done.timings['total']:.1f}s: {steps}")
        click.echo(f"node image: {done.image}")
    click.echo(f"export KUBECONFIG={access.kubeconfig}  # context {access.context}")


@cluster.command()
@_PROVIDER
@_NAME
def down(provider: str, name: str | None) -> None:
    """Stop every process the cluster started (checked by PID) and remove its state."""
    from servegate.cluster.local import LocalCluster

    name = _name(provider, name)
    if provider == "kind":
        prov, _ = _kind(name)
        try:
            done = prov.cluster.down()
        except UserError as exc:
            raise _fail(exc) from None
        click.echo(f"kind cluster {name} down" + (f": {'; '.join(done)}" if done else ""))
        return
    try:
        stopped = LocalCluster(name).down()
    except UserError as exc:
        raise _fail(exc) from None
    if stopped:
        click.echo(f"cluster {name} down: stopped {', '.join(stopped)}")
    else:
        click.echo(f"cluster {name} down (nothing was running)")


@cluster.command()
@_PROVIDER
@_NAME
def status(provider: str, name: str | None) -> None:
    """Processes and nodes; exit code 1 when the cluster is not fully up."""
    from servegate.cluster.local import LocalCluster

    name = _name(provider, name)
    if provider == "kind":
        prov, _ = _kind(name)
        try:
            line = prov.status()
        except UserError as exc:
            raise _fail(exc) from None
        click.echo(line)
        if not prov.cluster.kubeconfig.exists() or "not created" in line or "no Docker" in line:
            sys.exit(1)
        return
    try:
        procs, ready, total = LocalCluster(name).status()
    except UserError as exc:
        raise _fail(exc) from None
    if not procs:
        click.echo(f"cluster {name}: not created")
        sys.exit(1)
    for p in procs:
        state = "running" if p.running else "stopped"
        click.echo(f"{p.name:<26} {state:<8} pid {p.pid or '-':<8} {p.detail}")
    click.echo(f"nodes: {len(ready)}/{total} Ready")
    if not all(p.running for p in procs) or len(ready) < total or total == 0:
        sys.exit(1)


@cluster.command()
@_PROVIDER
@_NAME
@click.option("--path", "path_only", is_flag=True, help="print the file's path, not its content")
def kubeconfig(provider: str, name: str | None, path_only: bool) -> None:
    """Print the admin kubeconfig (context servegate-<name>, kind-<name> for kind)."""
    from servegate.cluster import paths

    name = _name(provider, name)
    try:
        if provider == "kind":
            path = paths.state_root() / f"kind-{paths.check_name(name)}" / "kubeconfig"
        else:
            path = paths.state_dir(name) / "kubeconfig"
    except UserError as exc:
        raise _fail(exc) from None
    if not path.exists():
        raise click.ClickException(f"cluster {name} has no kubeconfig: run 'servegate cluster up'")
    click.echo(str(path) if path_only else path.read_text("utf-8"), nl=path_only)


@cluster.command()
@click.option(
    "--bin-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    envvar="SERVEGATE_BIN_DIR",
)
def build(bin_dir: Path | None) -> None:
    """Resolve (download or build) every binary into the cache, without starting anything."""
    from servegate.cluster.binaries import BinaryResolver
    from servegate.cluster.versions import load_versions

    started = time.monotonic()
    with building() as report:
        resolver = BinaryResolver(load_versions(), bin_dir=bin_dir, progress=report)
        found = resolver.resolve_all()
    for name, res in sorted(found.items()):
        click.echo(f"{name:<24} {res.source:<9} {res.path}")
    click.echo(f"resolved in {time.monotonic() - started:.1f}s")


@cluster.command(name="image")
@click.argument("image_name", metavar="NAME")
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Where to write the image archive (docker-archive tar).",
)
def image(image_name: str, out: Path) -> None:
    """Build (or take from the cache) servegate's image NAME and write it to --out, for the
    owners of a cluster servegate did not make to import into their nodes' runtime or
    registry: servegate never loads images into such a cluster itself (docs/foreign.md)."""
    from servegate.cluster.node import images

    if out.exists() and not out.is_file():
        raise click.ClickException(f"{out}: not a file")
    with building() as report:
        built = images.build(image_name, report)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    shutil.copyfile(built.tarball, part)
    part.replace(out)
    click.echo(f"{built.ref} -> {out} ({out.stat().st_size / 2**20:.0f} MiB)")
    click.echo(f"import on each node: ctr -n k8s.io images import {out}", err=True)


@cluster.command()
@click.option("--name", default="local", show_default=True, help="Cluster name.")
def sockets(name: str) -> None:
    """The running local cluster's listening sockets and where each can be reached from;
    exit code 1 if one is reachable from outside this host."""
    from servegate.cluster import sockets as socks
    from servegate.cluster.local import LocalCluster

    lc = LocalCluster(name, log=lambda _m: None)
    if not lc.running():
        raise _fail(UserError(f"local cluster {name!r} is not running: servegate cluster up"))
    rows = socks.listeners(lc.state)
    click.echo(socks.table(rows))
    exposed = [r for r in rows if not r.private]
    click.echo(f"{len(rows)} listening sockets, {len(exposed)} reachable from outside this host")
    if exposed:
        sys.exit(1)


@cluster.command()
@click.argument("addon_names", nargs=-1, metavar="ADDON...")
@click.option("--name", default="local", show_default=True, help="Cluster name.")
@click.option("--list", "list_only", is_flag=True, help="List the add-ons and their state.")
def addons(addon_names: tuple[str, ...], name: str, list_only: bool) -> None:
    """Build and start optional add-ons (NetworkPolicy enforcement, metrics, autoscalers).

    Suites start the add-ons they need by themselves; this is for trying one by hand.
    `cluster down` stops them with the node."""
    from servegate.cluster import addons as registry

    try:
        ctx = registry.context(name)
    except UserError as exc:
        raise _fail(exc) from exc
    try:
        if list_only or not addon_names:
            for known in sorted(registry.REGISTRY):
                reason = registry.load(known).ready(ctx)
                click.echo(f"{known:24} {'ready' if reason is None else 'off: ' + reason}")
            return
        took = registry.enable(ctx, list(addon_names), progress=click.echo)
    except UserError as exc:
        raise _fail(exc) from exc
    finally:
        ctx.api.close()
    for addon, seconds in took.items():
        click.echo(f"{addon}: ready" + (f" ({seconds:.0f}s)" if seconds else " (already)"))
