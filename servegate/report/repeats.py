"""The statistics of a run's repeats (repeats.json), as a console table and markdown."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from servegate.metrics.repeats import RepeatSummary


def _f(v: float | None, pct: bool = False) -> str:
    if v is None:
        return "-"
    return f"{v:.1%}" if pct else f"{v:,.3f}"


def rows(rs: RepeatSummary) -> list[list[str]]:
    out = []
    for key, st in rs.figures.items():
        ci = "-" if st.ci_low is None else f"{_f(st.ci_low)} .. {_f(st.ci_high)}"
        out.append([key, str(st.n), _f(st.mean), ci, _f(st.cv, pct=True)])
    return out


HEADERS = ["figure", "repeats", "mean", "95% CI of the mean", "CV"]


def method_note(rs: RepeatSummary) -> str:
    m = rs.method
    return (
        f"CI: {m['ci']}, confidence {m['confidence']}, {m['resamples']} resamples, seed "
        f"{m['seed']}; CV: {m['cv']}; seeds of the repeats: {', '.join(map(str, rs.seeds))}"
    )


def print_repeats(rs: RepeatSummary, console: Console) -> None:
    t = Table(title=f"{rs.profile_name}: {len(rs.runs)} repeats", title_justify="left")
    for i, h in enumerate(HEADERS):
        t.add_column(h, justify="left" if i == 0 else "right")
    for r in rows(rs):
        t.add_row(*r)
    console.print(t)
    console.print(method_note(rs), highlight=False)


def render_markdown(rs: RepeatSummary) -> str:
    lines = [f"# {rs.profile_name}: {len(rs.runs)} repeats", ""]
    lines.append("| " + " | ".join(HEADERS) + " |")
    lines.append("|" + "---|" * len(HEADERS))
    lines += ["| " + " | ".join(r) + " |" for r in rows(rs)]
    lines += ["", method_note(rs), ""]
    return "\n".join(lines)
