from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from report_runs import MakeRun, synthetic_records, write_run

from servegate.cli import cli
from servegate.report import load_summary, write_report
from servegate.report.compare import compare, parse_threshold, thresholds


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Three reported runs, shared read-only by the tests of this module."""
    root = tmp_path_factory.mktemp("runs")
    base = write_run(root / "base", synthetic_records(100))
    same = write_run(root / "same", synthetic_records(100))
    slow = write_run(root / "slow", synthetic_records(100, slow=1.5))
    for d in (base, same, slow):
        write_report(d)
    return base, same, slow


def _run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, list(args))
    return res.exit_code, res.output


def test_compare_identical_runs_exit_0(runs: tuple[Path, Path, Path]) -> None:
    base, same, _ = runs
    code, out = _run("compare", str(base), str(same / "summary.json"))
    assert code == 0, out
    assert "no regression" in out


def test_compare_regression_exit_1(runs: tuple[Path, Path, Path]) -> None:
    base, _, slow = runs
    code, out = _run("compare", str(base), str(slow))
    assert code == 1, out
    assert "ttft.p99" in out.split("regressed:")[1]


def test_compare_generous_threshold_exit_0(runs: tuple[Path, Path, Path]) -> None:
    base, _, slow = runs
    code, out = _run(
        "compare", str(base), str(slow), "--no-defaults", "--max-regress", "ttft.p99=80%"
    )
    assert code == 0, out


@pytest.mark.parametrize(
    "extra",
    [
        ["--max-regress", "ttft.p42=10%"],
        ["--max-regress", "ttft.p99"],
        ["--max-regress", "ttft.p99=ten%"],
        ["--max-regress", "ttft.p99=-5%"],
    ],
)
def test_compare_bad_threshold_exit_2(runs: tuple[Path, Path, Path], extra: list[str]) -> None:
    base, same, _ = runs
    code, out = _run("compare", str(base), str(same), *extra)
    assert code == 2
    assert "--max-regress" in out and "Traceback" not in out


def test_compare_bad_input_exit_2(runs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    base, _, _ = runs
    code, out = _run("compare", str(base), str(tmp_path / "missing"))
    assert code == 2 and "no such file" in out
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    code, out = _run("compare", str(bad), str(base))
    assert code == 2 and "bad.json" in out and len(out.strip().splitlines()) == 1


def test_missing_new_figure_counts_as_regression(
    runs: tuple[Path, Path, Path], make_run: MakeRun
) -> None:
    base, _, _ = runs
    empty = make_run([], name="empty")
    write_report(empty)
    rows = compare(load_summary(base), load_summary(empty), thresholds([]))
    regressed = {r.key for r in rows if r.regressed}
    assert {"ttft.p99", "throughput.output_tokens_per_s"} <= regressed


def test_threshold_directions() -> None:
    t = parse_threshold("throughput.output_tokens_per_s=10%")
    assert t.relative and t.amount == pytest.approx(0.1)
    assert parse_threshold("ttft.p99.9=5").key == "ttft.p99_9"


def test_report_rerenders_and_keeps_slo(make_run: MakeRun) -> None:
    base = make_run(synthetic_records(50))
    code, out = _run("report", str(base), "--slo", "mlperf-llama2-70b-server", "-q")
    assert code == 0, out
    (base / "report.html").unlink()
    code, out = _run("report", str(base), "-q")
    assert code == 0, out
    assert (base / "report.html").exists()
    doc = orjson.loads((base / "summary.json").read_bytes())
    assert doc["slo"]["spec"]["name"] == "mlperf-llama2-70b-server"


def test_report_sweep_page(runs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    out_html = tmp_path / "sweep.html"
    code, out = _run("report", *map(str, runs), "--sweep", str(out_html), "-q")
    assert code == 0, out
    assert "throughput against latency" in out_html.read_text().lower()


def test_report_bad_dir_is_one_line(tmp_path: Path) -> None:
    code, out = _run("report", str(tmp_path))
    assert code == 1
    assert out.strip().startswith("Error:") and len(out.strip().splitlines()) == 1
