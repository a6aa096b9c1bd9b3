"""One strict base for every configuration model, and a YAML loader whose errors name the
file, the line and the field.

A typo in a YAML file must be an error, never a silently ignored key: every model forbids
extra fields. Validation errors are reported as ``file:line: field.path: message``, one line
per problem, using the line numbers PyYAML's composer records on each node.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from servegate.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors; values are validated on assignment;
    a number is finite (YAML's .inf and .nan are refused where they are read, not where a
    duration or a step count computed from them overflows)."""

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, frozen=False, allow_inf_nan=False
    )


def _is_union_tag(node: yaml.MappingNode, part: int | str) -> bool:
    """True if ``part`` is the value of this mapping's ``type`` or ``kind`` discriminator."""
    return any(
        isinstance(k, yaml.ScalarNode)
        and k.value in ("type", "kind")
        and isinstance(v, yaml.ScalarNode)
        and v.value == str(part)
        for k, v in node.value
    )


def _node_line(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """Walk a composed YAML node tree along a pydantic error location; return a 1-based line."""
    best: int | None = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    nxt = value
                    best = key.start_mark.line + 1
                    break
            if nxt is None and _is_union_tag(node, part):
                continue  # pydantic puts a tagged union's tag in the path: stay on this mapping
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if 0 <= part < len(node.value) else None
            if node is not None:
                best = node.start_mark.line + 1
        else:
            break
        if node is None:
            break
    return best


# Every character that ends a line somewhere (a terminal, str.splitlines), and the other
# control characters, written as escapes inside a message.
_LINE_BREAKS = {c: f"\\x{c:02x}" for c in range(32) if c != 9} | {
    10: "\\n",
    13: "\\r",
    0x85: "\\x85",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def one_line(text: str) -> str:
    """``text`` with line breaks and control characters escaped: a message built from the
    user's input stays on its line."""
    return text.translate(_LINE_BREAKS)


def field_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as ``a.b.0.c``. A key that is empty, has surrounding blanks
    or unprintable characters (a newline) is quoted, so a message stays one line."""
    return ".".join(
        repr(p)
        if isinstance(p, str) and (not p.isprintable() or p.strip() != p or not p)
        else str(p)
        for p in loc
    )


def format_validation_error(exc: ValidationError, source: str, node: yaml.Node | None) -> str:
    """Render a pydantic error as lines of ``source:line: field: message``."""
    lines = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        field = field_path(loc) or "(top level)"
        line = _node_line(node, loc)
        where = f"{source}:{line}" if line is not None else source
        msg = one_line(err["msg"])
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling)"
        lines.append(f"{where}: {field}: {msg}")
    return "\n".join(lines)


class LocatedConstructorErrors:
    """A loader mixin: the constructors' own errors (``!!int abc``, ``!!bool maybe``,
    ``!!float`` on nothing, a timestamp in month 13: ValueError, KeyError, IndexError,
    AttributeError...) become YAML errors at the node's line, not tracebacks. Mixed into
    PyYAML's pure and libyaml loaders alike (both construct in Python)."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)  # type: ignore[misc]
        except (yaml.YAMLError, RecursionError):
            raise
        except Exception as exc:  # whatever a constructor raises on text it cannot read
            tag = str(node.tag).rsplit(":", 1)[-1]
            what = f"{node.value!r}" if isinstance(node, yaml.ScalarNode) else "this value"
            raise yaml.constructor.ConstructorError(
                None, None, f"{what} is not a valid {tag} ({exc})", node.start_mark
            ) from None


class SafeLoader(LocatedConstructorErrors, yaml.SafeLoader):
    """PyYAML's safe loader with located constructor errors."""


def parse_yaml(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    """The composed node tree (for line numbers) and the data of one YAML document.

    Raises :class:`ConfigError` ``source[:line]: not valid YAML: problem``."""
    try:
        node = yaml.compose(text, Loader=SafeLoader)
        data: Any = yaml.load(text, Loader=SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML: {one_line(problem)}") from None
    except RecursionError:
        raise ConfigError(f"{source}: not valid YAML: nested too deeply") from None
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:  # no node
        raise ConfigError(f"{source}: not valid YAML: {one_line(str(exc))}") from None
    return node, data


def load_yaml_text(text: str, model: type[M], source: str = "<string>") -> M:
    """Parse and validate one YAML document. Raises :class:`ConfigError` with a located message."""
    node, data = parse_yaml(text, source)
    if data is None:
        raise ConfigError(f"{source}: the file is empty")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source, node)) from None


def load_yaml_file(path: str | Path, model: type[M]) -> M:
    """Read ``path`` and validate it as ``model``. Raises :class:`ConfigError`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read: {exc}") from None
    return load_yaml_text(text, model, source=str(p))
