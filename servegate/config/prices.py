"""Hourly GPU prices, so cost figures come from a reviewed table and not from constants in code.

Each price carries its source: a cost report is only as good as the figure it multiplies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from servegate.config.base import StrictModel, load_yaml_file
from servegate.errors import ConfigError
from servegate.paths import LOADPROFILES


class GpuPrice(StrictModel):
    """The price of one GPU of a product for one hour."""

    usd_per_hour: float = Field(..., gt=0, description="Price of one GPU for one hour, in USD.")
    source: str = Field(..., min_length=1, description="Where the figure comes from.")


class PriceTable(StrictModel):
    """GPU product name (as the nvidia.com/gpu.product label spells it) -> hourly price."""

    kind: Literal["PriceTable"] = "PriceTable"
    currency: Literal["USD"] = "USD"
    gpus: dict[str, GpuPrice] = Field(..., min_length=1, description="Product -> price.")

    def price(self, product: str) -> GpuPrice:
        """The price of ``product``; a one-line error listing the known products otherwise."""
        try:
            return self.gpus[product]
        except KeyError:
            known = ", ".join(sorted(self.gpus))
            raise ConfigError(
                f"price table: no price for GPU {product!r} (known: {known}; give a table "
                "that prices it: --sg-prices or SERVEGATE_PRICES)"
            ) from None


DEFAULT_PRICES = LOADPROFILES / "prices" / "default.yaml"


def load_prices(path: str | Path = DEFAULT_PRICES) -> PriceTable:
    """Load and validate a price table. Raises :class:`ConfigError` naming file, line, field."""
    return load_yaml_file(path, PriceTable)


__all__ = ["DEFAULT_PRICES", "GpuPrice", "PriceTable", "load_prices"]
