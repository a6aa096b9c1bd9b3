"""Extra HTTP headers of a profile, and keeping the credentials among them out of results.

A profile's ``headers:`` are sent on every request. A value may take part or all of its text
from the environment of the load generator with ``${env:NAME}``, so a token never has to be
written in the profile file::

    headers:
      Authorization: "Bearer ${env:API_TOKEN}"
      X-Team: inference

References are resolved where the requests are sent (each worker process, from its own
environment) and nowhere else: every written copy of a profile (profile.yaml, run.json,
reports) holds the unresolved text. A header that carries a credential (Authorization,
Proxy-Authorization, Cookie, X-Api-Key, Api-Key, or a name containing token, secret, key,
auth, passw, session, cookie or credential) must take its value from the environment, so a
profile file never holds one, and is written as ``<redacted>`` in run.json and reports.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated

from pydantic import AfterValidator, Field, PlainSerializer, SerializationInfo

from servegate.errors import ConfigError
from servegate.redact import REDACTED

#: Serialisation context that keeps header values as written (for the load generator only).
REVEAL = {"reveal_headers": True}

_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP token (RFC 9110)
_REF_RE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
_CREDENTIAL_NAMES = {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key"}
_CREDENTIAL_PART = re.compile(r"token|secret|key|auth|passw|session|cookie|credential", re.I)
#: Headers the load generator sets itself: its timing and parsing depend on them.
RESERVED = {
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "accept-encoding",
    "te",
    "upgrade",
    "x-servegate-timestamps",
}


def is_credential(name: str) -> bool:
    """Whether a header named ``name`` is taken to carry a credential."""
    return name.lower() in _CREDENTIAL_NAMES or bool(_CREDENTIAL_PART.search(name))


def references(value: str) -> list[str]:
    """Names of the environment variables ``value`` refers to."""
    return _REF_RE.findall(value)


def _check(headers: dict[str, str]) -> dict[str, str]:
    seen: set[str] = set()
    for name, value in headers.items():
        if not _NAME_RE.match(name):
            raise ValueError(f"{name!r} is not a valid header name")
        if name.lower() in RESERVED:
            raise ValueError(f"{name}: set by the load generator itself; not allowed here")
        if name.lower() in seen:
            raise ValueError(f"{name}: given twice (header names ignore case)")
        seen.add(name.lower())
        if any(c in value for c in "\r\n\0"):
            raise ValueError(f"{name}: a header value cannot contain a line break or NUL")
        if "${" in _REF_RE.sub("", value):
            raise ValueError(f"{name}: use ${{env:NAME}} to take a value from the environment")
        if is_credential(name) and not references(value):
            raise ValueError(
                f"{name} carries a credential: take it from the environment with ${{env:NAME}}"
                f' (e.g. "Bearer ${{env:API_TOKEN}}"), never write it in the profile'
            )
    return headers


def redacted(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` as they may be written down: credential values replaced by ``<redacted>``."""
    return {k: REDACTED if is_credential(k) else v for k, v in headers.items()}


def _serialize(headers: dict[str, str], info: SerializationInfo) -> dict[str, str]:
    context = info.context if isinstance(info.context, dict) else {}
    return dict(headers) if context.get("reveal_headers") else redacted(headers)


Headers = Annotated[
    dict[str, str],
    AfterValidator(_check),
    PlainSerializer(_serialize, return_type=dict[str, str]),
    Field(
        default_factory=dict,
        description="HTTP headers sent with every request; ${env:NAME} takes (part of) a value "
        "from the load generator's environment; credential headers are written as <redacted>",
    ),
]


def resolve(headers: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """The values to send: every ``${env:NAME}`` replaced from ``environ``.

    Raises :class:`ConfigError` naming the header and the variable when one is unset."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        missing = [v for v in references(value) if v not in environ]
        if missing:
            raise ConfigError(
                f"profile header {name}: environment variable {missing[0]} is not set"
            )
        out[name] = _REF_RE.sub(lambda m: environ[m.group(1)], value)
    return out


def secret_values(headers: Mapping[str, str], environ: Mapping[str, str]) -> list[str]:
    """The resolved values that must never be written: credentials, and every value taken
    from the environment."""
    out: set[str] = set()
    for name, value in headers.items():
        resolved = _REF_RE.sub(lambda m: environ.get(m.group(1), ""), value)
        if is_credential(name) and resolved:
            out.add(resolved)
        out.update(environ[v] for v in references(value) if environ.get(v))
    return sorted(out)


__all__ = [
    "REDACTED",
    "REVEAL",
    "Headers",
    "is_credential",
    "redacted",
    "references",
    "resolve",
    "secret_values",
]
