"""compare's verdicts with and without the spread of repeats, and peers' results beside ours."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from report_runs import MakeRun, synthetic_records

from servegate.cli import cli
from servegate.report import write_report
from servegate.report.compare import Side, compare, thresholds

PEERS = Path(__file__).parent / "peer_samples"


def _side(ttft_p99: list[float], source: str = "servegate") -> Side:
    return Side("s", "demo", source, {"ttft.p99": list(ttft_p99)})


def _row(base: Side, new: Side) -> tuple[bool, bool, str]:
    rows = compare(base, new, thresholds(["ttft.p99=10%"], defaults=False))
    r = next(r for r in rows if r.key == "ttft.p99")
    return r.exceeds, r.regressed, r.verdict


def test_a_separated_20_percent_change_of_repeats_is_a_qualified_regression() -> None:
    assert _row(_side([100, 101, 99]), _side([120, 121, 119])) == (True, True, "REGRESSED")


def test_a_change_past_the_threshold_within_the_noise_is_not_a_regression() -> None:
    # means 100 and 120 (+20%), but the repeats overlap: p = 0.35 (hand count in
    # test_metrics_repeats) > 0.05
    exceeds, regressed, verdict = _row(_side([60, 100, 140]), _side([80, 120, 160]))
    assert (exceeds, regressed) == (True, False)
    assert verdict.startswith("not significant (p=0.35")


def test_single_runs_decide_on_the_threshold_alone_and_say_so() -> None:
    assert _row(_side([100]), _side([120])) == (True, True, "REGRESSED (unqualified)")
    assert _row(_side([100]), _side([105])) == (False, False, "ok")


def test_a_figure_the_peer_does_not_measure_is_not_a_regression() -> None:
    rows = compare(
        _side([100]), Side("g", "peer", "guidellm", {}), thresholds(["ttft.p99=10%"], False)
    )
    assert not next(r for r in rows if r.key == "ttft.p99").regressed


def _run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, list(args), env={"COLUMNS": "200"})
    return res.exit_code, res.output


def test_cli_says_single_run_verdicts_are_unqualified(make_run: MakeRun) -> None:
    base = make_run(synthetic_records(100), name="base")
    slow = make_run(synthetic_records(100, slow=1.5), name="slow")
    for d in (base, slow):
        write_report(d)
    code, out = _run("compare", str(base), str(slow))
    assert code == 1
    assert "verdict unqualified" in out and "REGRESSED (unqualified)" in out


def test_cli_puts_a_guidellm_benchmark_beside_an_inference_perf_stage() -> None:
    guide = PEERS / "guidellm-two-rates.json"
    iperf = PEERS / "inference-perf-stage_0_lifecycle_metrics.json"
    code, out = _run("compare", f"{guide}#0", str(iperf), "--no-defaults")
    assert code == 0, out
    assert "guidellm" in out and "inference-perf" in out and "profiles differ" in out
    # the 1.5x TTFT of the second guidellm benchmark is past the default 10% on ttft.p99
    code, out = _run("compare", f"{guide}#0", f"{guide}#1")
    assert code == 1 and "ttft.p99" in out.split("regressed:")[1]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("guidellm-two-rates.json", "pick one with"),
        ("guidellm-two-rates.json#5", "no benchmark #5"),
        ("inference-perf-stage_0_lifecycle_metrics.json#0", "is not a guidellm report"),
    ],
)
def test_cli_peer_selection_errors_are_one_line(spec: str, message: str) -> None:
    code, out = _run("compare", str(PEERS / spec), str(PEERS / spec))
    assert code == 2 and message in out and len(out.strip().splitlines()) == 1
