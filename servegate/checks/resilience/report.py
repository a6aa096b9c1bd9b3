"""Report sections of the resilience checks (sg_results.section), one per check, plus its probe
samples on disk: errors by kind against the budget, and which version answered over time (a
table, and a stacked bar chart for index.html); for the PDB check, each eviction."""

from __future__ import annotations

from typing import Any

from servegate.checks.resilience.checks import ErrorBudget, VersionSample, timeline
from servegate.checks.resilience.env import Resil
from servegate.checks.resilience.flows import Finding


def _verdict(failures: list[str]) -> str:
    return "**FAIL**: " + "; ".join(failures) if failures else "pass"


def section_markdown(
    what: str,
    errors: dict[str, int],
    total: int,
    budget: ErrorBudget,
    samples: list[VersionSample],
    events: list[tuple[float, str]],
    failures: list[str],
    bucket_s: float = 5.0,
) -> str:
    failed = sum(errors.values())
    lines = [
        f"{what}: {_verdict(failures)}.",
        "",
        f"Load run: {total} requests, {failed} failed "
        f"({', '.join(f'{k} {v}' for k, v in sorted(errors.items())) or 'no errors'}); "
        f"budget `{budget.name}`: at most {budget.max_error_rate:.2%} "
        f"({budget.allowed(total)} requests).",
        "",
        "Steps (probe time, s): " + ("; ".join(f"{t:.1f} {name}" for t, name in events) or "none"),
        "",
    ]
    rows = timeline(samples, bucket_s)
    keys = sorted({k for r in rows for k in r if k != "t_s"})
    if rows:
        lines.append("| t (s) | " + " | ".join(keys) + " |")
        lines.append("|---:" * (len(keys) + 1) + "|")
        for r in rows:
            lines.append(f"| {r['t_s']} | " + " | ".join(str(r.get(k, 0)) for k in keys) + " |")
    return "\n".join(lines)


def version_figure(title: str, samples: list[VersionSample], bucket_s: float = 2.0) -> Any:
    """Stacked bars: probe answers per version (and probe errors) per time bucket."""
    import plotly.graph_objects as go

    rows = timeline(samples, bucket_s)
    keys = sorted({k for r in rows for k in r if k != "t_s"})
    fig = go.Figure(
        [go.Bar(name=k, x=[r["t_s"] for r in rows], y=[r.get(k, 0) for r in rows]) for k in keys]
    )
    fig.update_layout(
        title=title, barmode="stack", xaxis_title="probe time (s)", yaxis_title="responses"
    )
    return fig.to_dict()


def publish(r: Resil, name: str, f: Finding) -> None:
    """Write the check's section ``name`` into the run's report (and its probe samples)."""
    if f.evictions:
        rows = "\n".join(
            f"| {i + 1} | {e.pod} | {e.status} | {e.message.replace('|', '/')} |"
            for i, e in enumerate(f.evictions)
        )
        table = f"| # | pod | HTTP | message |\n|---:|---|---:|---|\n{rows}"
        md = f"{f.what}: {_verdict(f.failures)}.\n\n{table}"
        data = {"evictions": [e.__dict__ for e in f.evictions], "failures": f.failures}
        r.results.section(name, f"Resilience: {f.what}", md, data=data)
        return
    r.save_samples(name, f.samples)
    md = section_markdown(f.what, f.errors, f.total, r.budget, f.samples, f.events, f.failures)
    if f.expected_share is not None:
        observed = "not measured" if f.share is None else f"{f.share:.1%}"
        md += (
            f"\n\nCanary share of probe responses while it ran: {observed}, expected "
            f"{f.expected_share:.1%} (pods behind the Service)."
        )
    data = {
        "errors": f.errors,
        "total": f.total,
        "budget": {"name": r.budget.name, "max_error_rate": r.budget.max_error_rate},
        "events": f.events,
        "share": f.share,
        "expected_share": f.expected_share,
        "failures": f.failures,
    }
    fig = version_figure(f"{f.what}: responses by version", f.samples)
    r.results.section(name, f"Resilience: {f.what}", md, data=data, figures=[fig])
