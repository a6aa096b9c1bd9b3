"""The pattern checks bill by a price table the user can give (``--sg-prices`` or
SERVEGATE_PRICES): a cluster of GPUs the shipped table does not price gets its figures, and a
bad table is a one-line failure of the checks that use it."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

TABLE = """\
kind: PriceTable
currency: USD
gpus:
  NVIDIA-H100-80GB-HBM3:
    usd_per_hour: 4.5
    source: "this test"
"""

TESTS = """
def test_price(sg_prices):
    print("PRICE", sg_prices.price("NVIDIA-H100-80GB-HBM3").usd_per_hour)
"""


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SERVEGATE_PRICES", raising=False)
    monkeypatch.delenv("SERVEGATE_STRICT", raising=False)


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_prices=TESTS)
    return pytester.runpytest_inprocess("-s", "-p", "no:cacheprovider", "--sg-cluster=none", *args)


def test_the_given_table_prices_the_clusters_gpus(pytester: pytest.Pytester) -> None:
    table = pytester.path / "prices.yaml"
    table.write_text(TABLE)
    result = _run(pytester, f"--sg-prices={table}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*PRICE 4.5*"])


def test_the_shipped_table_names_the_setting_for_an_unpriced_gpu(
    pytester: pytest.Pytester,
) -> None:
    result = _run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no price for GPU 'NVIDIA-H100-80GB-HBM3'*--sg-prices*"])
    assert "Traceback" not in result.stdout.str()


def test_a_malformed_table_fails_in_one_line(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = pytester.path / "bad.yaml"
    table.write_text("kind: PriceTable\ncurrency: USD\ngpus: {}\n")
    monkeypatch.setenv("SERVEGATE_PRICES", str(table))
    result = _run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*bad.yaml*gpus*"])
