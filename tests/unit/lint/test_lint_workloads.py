"""Small helpers the rules rely on."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from servegate.lint.rules.gpu import parallelism
from servegate.lint.rules.serving import image_unpinned
from servegate.lint.workloads import parse_quantity, selector_matches


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("32Gi", 32 * 2**30),
        ("500m", Decimal("0.5")),
        ("1e3", 1000),
        ("2", 2),
        (1, 1),
        ("8G", 8 * 10**9),
    ],
)
def test_parse_quantity(text: Any, value: Any) -> None:
    assert parse_quantity(text) == Decimal(value)


@pytest.mark.parametrize("text", ["lots", "", None, True, "1Gb"])
def test_parse_quantity_rejects_garbage(text: Any) -> None:
    assert parse_quantity(text) is None


@pytest.mark.parametrize(
    ("image", "unpinned"),
    [
        ("vllm/vllm-openai:latest", True),
        ("vllm/vllm-openai", True),
        ("localhost:5000/vllm", True),
        ("localhost:5000/vllm:v1", False),
        ("vllm/vllm-openai:v0.11.0", False),
        ("vllm/vllm-openai:latest@sha256:" + "a" * 64, False),
    ],
)
def test_image_unpinned(image: str, unpinned: bool) -> None:
    assert image_unpinned(image) is unpinned


@pytest.mark.parametrize(
    ("container", "expected"),
    [
        ({"args": ["--tensor-parallel-size=4"]}, (4, 1, False)),
        ({"command": ["vllm", "serve", "m", "-tp", "2", "-pp", "2"]}, (2, 2, False)),
        ({"command": ["sh", "-c", "vllm serve m --tensor-parallel-size 8"]}, (8, 1, False)),
        ({"args": ["--num-shard", "2"]}, (2, 1, False)),
        ({"args": ["-tp=2", "--distributed-executor-backend=ray"]}, (2, 1, True)),
        ({"args": ["--model=x"]}, (1, 1, False)),
    ],
)
def test_parallelism(container: dict[str, Any], expected: tuple[int, int, bool]) -> None:
    assert parallelism(container) == expected


def test_selector_matching() -> None:
    labels = {"app": "vllm", "tier": "gpu"}
    assert selector_matches({"matchLabels": {"app": "vllm"}}, labels)
    assert not selector_matches({"matchLabels": {"app": "tgi"}}, labels)
    assert selector_matches(
        {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gpu"]}]}, labels
    )
    assert not selector_matches(
        {"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, labels
    )
    assert selector_matches(
        {"matchExpressions": [{"key": "x", "operator": "NotIn", "values": ["y"]}]}, labels
    )
