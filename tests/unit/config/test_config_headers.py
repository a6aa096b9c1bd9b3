"""Profile headers: what may be written, how references resolve, what is redacted."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from servegate.config.base import load_yaml_file
from servegate.config.headers import REVEAL, is_credential, resolve, secret_values
from servegate.config.profile import Profile
from servegate.errors import ConfigError
from servegate.redact import REDACTED, scrub

ROOT = Path(__file__).resolve().parents[3]


def _profile(headers: dict[str, str]) -> Profile:
    doc = yaml.safe_load((ROOT / "loadprofiles" / "smoke.yaml").read_text())
    return Profile.model_validate({**doc, "headers": headers})


@pytest.mark.parametrize(
    ("name", "credential"),
    [
        ("Authorization", True),
        ("proxy-authorization", True),
        ("Cookie", True),
        ("X-Api-Key", True),
        ("api-key", True),
        ("X-Auth-Token", True),
        ("X-Client-Secret", True),
        ("X-Team", False),
        ("User-Agent", False),
        ("X-Request-Tag", False),
    ],
)
def test_which_headers_carry_credentials(name: str, credential: bool) -> None:
    assert is_credential(name) is credential


def test_credentials_are_redacted_when_written_and_kept_for_the_load_generator() -> None:
    headers = {"Authorization": "Bearer ${env:TOK}", "X-Team": "a", "X-Tag": "${env:TAG}"}
    p = _profile(headers)
    assert p.model_dump(mode="json")["headers"] == {
        "Authorization": REDACTED,
        "X-Team": "a",
        "X-Tag": "${env:TAG}",
    }
    assert p.model_dump(mode="json", context=REVEAL)["headers"] == headers
    # what the workers receive validates back to the same profile
    assert Profile.model_validate(p.model_dump(mode="json", context=REVEAL)) == p


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Authorization": "Bearer sk-123"}, "take it from the environment"),
        ({"X-Api-Key": "literal"}, "take it from the environment"),
        ({"Bad Name": "x"}, "not a valid header name"),
        ({"Content-Type": "text/plain"}, "set by the load generator"),
        ({"Host": "example"}, "set by the load generator"),
        ({"X-A": "1", "x-a": "2"}, "given twice"),
        ({"X-A": "one\r\nX-B: two"}, "line break"),
        ({"X-A": "${TOKEN}"}, "use ${env:NAME}"),
        ({"X-A": "${env:1BAD}"}, "use ${env:NAME}"),
    ],
)
def test_bad_headers_are_refused(headers: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("$", r"\$")):
        _profile(headers)


def test_a_literal_credential_in_a_file_is_one_line_naming_the_line(tmp_path: Path) -> None:
    text = (ROOT / "loadprofiles" / "smoke.yaml").read_text()
    path = tmp_path / "p.yaml"
    path.write_text(text + "headers:\n  Authorization: Bearer sk-123\n")
    with pytest.raises(ConfigError) as err:
        load_yaml_file(path, Profile)
    msg = str(err.value)
    assert "\n" not in msg and "Authorization carries a credential" in msg
    assert msg.startswith(f"{path}:{len(text.splitlines()) + 1}: headers:")  # the headers: line
    assert "sk-123" not in msg


def test_references_resolve_from_the_environment() -> None:
    headers = {"Authorization": "Bearer ${env:A}", "X-Two": "${env:A}-${env:B}", "X-C": "c"}
    got = resolve(headers, {"A": "alpha", "B": "beta"})
    assert got == {"Authorization": "Bearer alpha", "X-Two": "alpha-beta", "X-C": "c"}
    with pytest.raises(ConfigError, match="profile header X-Two: environment variable B"):
        resolve(headers, {"A": "alpha"})


def test_secret_values_and_scrub() -> None:
    headers = {"Authorization": "Bearer ${env:A}", "X-Tag": "${env:B}", "X-C": "plain"}
    env = {"A": "alpha-secret", "B": "beta-value", "C": "unused"}
    values = secret_values(headers, env)
    assert set(values) == {"Bearer alpha-secret", "alpha-secret", "beta-value"}
    text = "HTTP 401: bad token alpha-secret (Bearer alpha-secret) tag beta-value plain"
    assert scrub(text, values) == (
        f"HTTP 401: bad token {REDACTED} ({REDACTED}) tag {REDACTED} plain"
    )
    assert scrub("a short pin 1234", ["1234"]) == "a short pin 1234"  # too short to scrub
