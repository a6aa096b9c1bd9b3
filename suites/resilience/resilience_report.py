"""Report sections of the resilience checks: errors by kind against the budget, and which
version answered over time (a table, and a stacked bar chart for index.html)."""

from __future__ import annotations

from typing import Any

from resilience_checks import ErrorBudget, VersionSample, timeline


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
    verdict = "**FAIL**: " + "; ".join(failures) if failures else "pass"
    lines = [
        f"{what}: {verdict}.",
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
