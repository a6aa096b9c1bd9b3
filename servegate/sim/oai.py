"""OpenAI-style error bodies and request-validation messages shared by the endpoints."""

from __future__ import annotations

from typing import TypeVar

import orjson
from pydantic import BaseModel, ValidationError

_TYPES = {
    400: "BadRequestError",
    404: "NotFoundError",
    405: "MethodNotAllowedError",
    413: "RequestTooLargeError",
    500: "InternalServerError",
    503: "ServiceUnavailableError",
}

M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    """Raised by an endpoint to answer with an OpenAI-style error."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param


def error_body(status: int, message: str, param: str | None = None) -> bytes:
    err = {
        "message": message,
        "type": _TYPES.get(status, "InternalServerError" if status >= 500 else "BadRequestError"),
        "param": param,
        "code": status,
    }
    return orjson.dumps({"error": err})


def parse_body(body: bytes, model: type[M]) -> M:
    """Decode and validate a JSON request body; any problem is a 400 naming the field."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(body)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ApiError(400, f"{field}: {err['msg']}{more}", param=field) from None
