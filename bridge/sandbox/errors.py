"""Magento's REST error bodies, raised from handlers and rendered by the server.

Magento never substitutes placeholders: the body carries the raw phrase and its
``parameters`` — a list for ``%1``-style phrases, a dict for ``%name``-style ones
(framework/Webapi/Rest/Response.php; docs/magento.md S5).
"""

from __future__ import annotations

from typing import Any

NO_ROUTE = "Request does not match any route."
NOT_AUTHORIZED = "The consumer isn't authorized to access %resources."
REQUIRED = '"%fieldName" is required. Enter and try again.'
NOT_SUPPORTED = '"%fieldName" is not supported. Correct the field name and try again.'
INVALID_VALUE = 'Invalid value of "%value" provided for the %fieldName field.'
NO_SUCH_ENTITY = "No such entity with %fieldName = %fieldValue"


class ApiError(Exception):
    """One Magento error answer: HTTP status, raw phrase, parameters (list or dict)."""

    def __init__(self, status: int, message: str,
                 parameters: list[Any] | dict[str, Any] | None = None,
                 errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.parameters = parameters
        self.errors = errors

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message}
        if self.errors:
            out["errors"] = self.errors
        if self.parameters:
            out["parameters"] = self.parameters
        return out

    def rendered(self) -> str:
        """The message with its placeholders filled (for logs and test messages)."""
        text = self.message
        p = self.parameters
        if isinstance(p, dict):
            for k in sorted(p, key=len, reverse=True):
                text = text.replace(f"%{k}", str(p[k]))
        elif isinstance(p, list):
            for i in range(len(p), 0, -1):
                text = text.replace(f"%{i}", str(p[i - 1]))
        return text


def no_such_entity(field: str, value: Any) -> ApiError:
    return ApiError(404, NO_SUCH_ENTITY, {"fieldName": field, "fieldValue": value})


def required(field: str) -> ApiError:
    return ApiError(400, REQUIRED, {"fieldName": field})


def invalid_value(field: str, value: Any) -> ApiError:
    return ApiError(400, INVALID_VALUE, {"fieldName": field, "value": value})
