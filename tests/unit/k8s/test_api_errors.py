"""servegate.k8s.errors words an API error from the Status body, or its HTTP status."""

from __future__ import annotations

from kubernetes.client.exceptions import ApiException

from servegate.k8s.errors import api_message


def _exc(status: int, reason: str, body: str | None) -> ApiException:
    exc = ApiException(status=status, reason=reason)
    exc.body = body
    return exc


def test_status_message_is_used() -> None:
    body = '{"kind":"Status","message":"pods \\"x\\" is forbidden: exceeded quota","code":403}'
    assert api_message(_exc(403, "Forbidden", body)) == 'pods "x" is forbidden: exceeded quota'


def test_non_status_body_falls_back_to_status_and_reason() -> None:
    assert api_message(_exc(502, "Bad Gateway", "<html>proxy</html>")) == "502 Bad Gateway"
    assert api_message(_exc(502, "Bad Gateway", None)) == "502 Bad Gateway"
    assert api_message(_exc(502, "Bad Gateway", None), with_status=False) == "Bad Gateway"
    assert api_message(_exc(404, "Not Found", '{"kind":"Status"}')) == "Not Found"
