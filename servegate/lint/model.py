"""Core types of the linter: objects with their source position, rules, findings, registry.

Rules are plain functions registered under a stable id, so the CLI, the docs and SARIF all
read the same metadata and a rule can be disabled by id everywhere.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

Path_ = tuple[str | int, ...]

IGNORE_ANNOTATION = "servegate.dev/lint-ignore"


class Severity(enum.IntEnum):
    """Ordered so that ``--fail-on`` can compare levels."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r} (use error, warning or info)") from None


@dataclass
class K8sObject:
    """One Kubernetes object and where it came from (file and 1-based line per field path)."""

    doc: dict[str, Any]
    file: str
    line: int = 1
    lines: dict[Path_, int] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        value = self.doc.get("kind")
        return value if isinstance(value, str) else ""

    @property
    def api_version(self) -> str:
        value = self.doc.get("apiVersion")
        return value if isinstance(value, str) else ""

    @property
    def metadata(self) -> dict[str, Any]:
        meta = self.doc.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def name(self) -> str:
        value = self.metadata.get("name")
        return str(value) if value is not None else ""

    @property
    def namespace(self) -> str:
        """The namespace as written; ``""`` means the one the objects are applied to."""
        value = self.metadata.get("namespace")
        return str(value) if value is not None else ""

    @property
    def ref(self) -> str:
        where = f"{self.kind}/{self.name}"
        return f"{self.namespace}/{where}" if self.namespace else where

    def line_of(self, path: Path_) -> int:
        """Line of the deepest existing prefix of ``path`` (the object's line if none)."""
        for cut in range(len(path), 0, -1):
            line = self.lines.get(path[:cut])
            if line is not None:
                return line
        return self.line

    def ignored(self) -> set[str]:
        annotations = self.metadata.get("annotations")
        if not isinstance(annotations, dict):
            return set()
        raw = annotations.get(IGNORE_ANNOTATION)
        if not isinstance(raw, str):
            return set()
        return {part.strip().upper() for part in raw.split(",") if part.strip()}


@dataclass(frozen=True)
class Finding:
    """One rule violation, located at a field of an object."""

    rule_id: str
    severity: Severity
    message: str
    file: str
    line: int
    object_ref: str
    path: str = ""
    unit: str = ""  # the kustomize unit the object was rendered from, if any


@dataclass(frozen=True)
class Hit:
    """What a rule check yields: the object, the field path and a message."""

    obj: K8sObject
    message: str
    path: Path_ = ()


Check = Callable[[Sequence[K8sObject]], Iterator[Hit]]


@dataclass(frozen=True)
class Rule:
    """Metadata of one rule and its check (which always sees the whole object set)."""

    id: str
    name: str
    severity: Severity
    summary: str
    rationale: str
    fix: str
    check: Check = field(compare=False, repr=False)
    help_uri: str = ""
    # Advice rules report a best practice whose absence breaks nothing by itself (a missing
    # disruption budget, no hang detection); they run only when asked for (--advice).
    advice: bool = False


class Registry:
    """Rules keyed by id; ids are unique and listed in id order."""

    def __init__(self) -> None:
        self._rules: dict[str, Rule] = {}

    def add(self, rule: Rule) -> None:
        if rule.id in self._rules:
            raise ValueError(f"duplicate lint rule id {rule.id}")
        self._rules[rule.id] = rule

    def rule(
        self, id: str, name: str, severity: Severity, help_uri: str = "", *, advice: bool = False
    ) -> Callable[[Check], Check]:
        """Decorator form of :meth:`add`; the check's docstring is the rule's text (see
        :func:`rule_text`)."""

        def wrap(check: Check) -> Check:
            summary, rationale, fix = rule_text(check)
            self.add(Rule(id, name, severity, summary, rationale, fix, check, help_uri, advice))
            return check

        return wrap

    def __iter__(self) -> Iterator[Rule]:
        return iter(sorted(self._rules.values(), key=lambda r: r.id))

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._rules

    def __getitem__(self, rule_id: str) -> Rule:
        return self._rules[rule_id]

    def ids(self) -> list[str]:
        return sorted(self._rules)


def rule_text(check: Check) -> tuple[str, str, str]:
    """(summary, rationale, fix) from a check's docstring: three paragraphs, the last starting
    with ``Fix:``. The lines of a paragraph are joined with single spaces."""
    doc = check.__doc__
    if doc is None:
        raise ValueError(f"lint check {check.__name__} has no docstring (Python run with -OO?)")
    paragraphs = [
        " ".join(line.strip() for line in part.splitlines())
        for part in inspect.cleandoc(doc).split("\n\n")
    ]
    if len(paragraphs) != 3 or not paragraphs[2].startswith("Fix: "):
        raise ValueError(
            f"lint check {check.__name__}: the docstring must be three paragraphs "
            "(what it finds, why it matters, 'Fix: ...')"
        )
    return paragraphs[0], paragraphs[1], paragraphs[2].removeprefix("Fix: ")


REGISTRY = Registry()
