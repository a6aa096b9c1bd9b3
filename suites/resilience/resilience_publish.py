"""One report section per check (sg_results.section) plus its probe samples on disk."""

from __future__ import annotations

from resilience_env import Resil
from resilience_flows import Finding
from resilience_report import section_markdown, version_figure


def publish(r: Resil, name: str, f: Finding) -> None:
    if f.evictions:
        rows = "\n".join(
            f"| {i + 1} | {e.pod} | {e.status} | {e.message.replace('|', '/')} |"
            for i, e in enumerate(f.evictions)
        )
        verdict = "**FAIL**: " + "; ".join(f.failures) if f.failures else "pass"
        md = f"{f.what}: {verdict}.\n\n| # | pod | HTTP | message |\n|---:|---|---:|---|\n{rows}"
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
