"""Keeping secret values out of what servegate writes: one marker, one replacement."""

from __future__ import annotations

from collections.abc import Iterable

REDACTED = "<redacted>"
#: Shorter values are not replaced in free text: they would blank out ordinary words.
MIN_SECRET_LEN = 6


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret (longest first) replaced by ``<redacted>``."""
    for s in sorted(set(secrets), key=len, reverse=True):
        if len(s) >= MIN_SECRET_LEN and s in text:
            text = text.replace(s, REDACTED)
    return text


__all__ = ["MIN_SECRET_LEN", "REDACTED", "scrub"]
