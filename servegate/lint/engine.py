"""Run the registered rules over loaded object sets and apply suppressions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from servegate.lint import rules as _rules  # noqa: F401  (registers the rules)
from servegate.lint.loader import LoadResult, ObjectSet, load_paths
from servegate.lint.model import REGISTRY, Finding, Registry, Severity


@dataclass
class LintResult:
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    objects: int = 0
    suppressed: int = 0

    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)


def _dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def lint_sets(
    sets: Iterable[ObjectSet],
    disable: Iterable[str] = (),
    registry: Registry = REGISTRY,
    advice: bool = False,
) -> LintResult:
    """Findings of every enabled rule on every set, sorted by file and line; advice rules
    only with ``advice``."""
    disabled = {d.upper() for d in disable}
    result = LintResult()
    for object_set in sets:
        seen: set[tuple[str, str, str, int, str]] = set()
        unit = "" if object_set.label == "files" else object_set.label
        result.objects += len(object_set.objects)
        for rule in registry:
            if rule.id in disabled or (rule.advice and not advice):
                continue
            try:
                hits = list(rule.check(object_set.objects))
            except Exception as exc:  # a rule must never turn bad input into a traceback
                result.errors.append(
                    f"{object_set.label}: rule {rule.id} could not check these objects: "
                    f"{exc.__class__.__name__}: {exc}"
                )
                continue
            for hit in hits:
                ignored = hit.obj.ignored()
                if rule.id in ignored or "ALL" in ignored:
                    result.suppressed += 1
                    continue
                line = hit.obj.line_of(hit.path)
                key = (rule.id, hit.obj.file, hit.obj.ref, line, hit.message)
                if key in seen:
                    continue
                seen.add(key)
                result.findings.append(
                    Finding(
                        rule_id=rule.id,
                        severity=rule.severity,
                        message=hit.message,
                        file=hit.obj.file,
                        line=line,
                        object_ref=hit.obj.ref,
                        path=_dotted(hit.path),
                        unit=unit,
                    )
                )
    result.findings.sort(key=lambda f: (f.file, f.line, f.rule_id, f.message))
    return result


def lint_paths(
    paths: Iterable[str],
    disable: Iterable[str] = (),
    stdin_text: str | None = None,
    advice: bool = False,
) -> LintResult:
    """Load PATHs and lint them; input problems land in ``errors``, never raise."""
    loaded: LoadResult = load_paths(paths, stdin_text=stdin_text)
    result = lint_sets(loaded.sets, disable, advice=advice)
    result.errors[:0] = loaded.errors
    return result
