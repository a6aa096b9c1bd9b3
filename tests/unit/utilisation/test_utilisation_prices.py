"""The price table: the shipped file loads; mistakes are one-line errors naming file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from servegate.config.prices import DEFAULT_PRICES, load_prices
from servegate.errors import ConfigError


def test_default_table_has_the_seed_a100_midpoint() -> None:
    table = load_prices()
    a100 = table.price("NVIDIA-A100-SXM4-80GB")
    assert a100.usd_per_hour == pytest.approx((1.0 + 3.0) / 2)
    assert "seed" in a100.source
    assert DEFAULT_PRICES.exists()


def test_unknown_product_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="NVIDIA-A100-SXM4-80GB"):
        load_prices().price("H200")


def test_typo_is_located(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("kind: PriceTable\ngpus:\n  A100:\n    usd_per_hour: 2\n    sorce: x\n")
    with pytest.raises(ConfigError) as err:
        load_prices(f)
    msg = str(err.value)
    assert f"{f}:5: gpus.A100.sorce" in msg and "\n" not in msg.split(f"{f}:5")[1].strip("\n")


def test_non_positive_price_is_rejected(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("gpus:\n  A100:\n    usd_per_hour: 0\n    source: x\n")
    with pytest.raises(ConfigError, match=r"p.yaml:3: gpus.A100.usd_per_hour"):
        load_prices(f)
