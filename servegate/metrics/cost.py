"""Cost per unit of useful work, from GPUs held, their hourly price and the work done.

Pure arithmetic with no defaults: every figure a report shows must be traceable to a GPU count,
a price-table entry and a measured rate.
"""

from __future__ import annotations

import math

SECONDS_PER_HOUR = 3600.0


def _check(name: str, value: float, *, positive: bool = False) -> None:
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        need = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a finite number {need}, got {value!r}")


def usd_per_hour(gpus: float, usd_per_gpu_hour: float) -> float:
    """What holding ``gpus`` GPUs costs per hour."""
    _check("gpus", gpus)
    _check("usd_per_gpu_hour", usd_per_gpu_hour)
    return gpus * usd_per_gpu_hour


def usd_per_million_tokens(gpus: float, usd_per_gpu_hour: float, tokens_per_s: float) -> float:
    """Cost of one million output tokens at a steady output rate over ``gpus`` GPUs."""
    _check("tokens_per_s", tokens_per_s, positive=True)
    per_s = usd_per_hour(gpus, usd_per_gpu_hour) / SECONDS_PER_HOUR
    return per_s / tokens_per_s * 1e6


def usd_per_1k_requests(gpus: float, usd_per_gpu_hour: float, requests_per_s: float) -> float:
    """Cost of one thousand requests at a steady request rate over ``gpus`` GPUs."""
    _check("requests_per_s", requests_per_s, positive=True)
    per_s = usd_per_hour(gpus, usd_per_gpu_hour) / SECONDS_PER_HOUR
    return per_s / requests_per_s * 1e3


def usd_for_gpu_hours(gpu_hours: float, usd_per_gpu_hour: float) -> float:
    """Bill for ``gpu_hours`` GPU-hours (allocated, busy or not)."""
    _check("gpu_hours", gpu_hours)
    _check("usd_per_gpu_hour", usd_per_gpu_hour)
    return gpu_hours * usd_per_gpu_hour


def usd_per_million_tokens_total(usd: float, tokens: float) -> float:
    """Cost per million tokens over a whole period: total bill / total output tokens."""
    _check("usd", usd)
    _check("tokens", tokens, positive=True)
    return usd / tokens * 1e6


__all__ = [
    "SECONDS_PER_HOUR",
    "usd_for_gpu_hours",
    "usd_per_1k_requests",
    "usd_per_hour",
    "usd_per_million_tokens",
    "usd_per_million_tokens_total",
]
