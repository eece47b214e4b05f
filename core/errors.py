"""Typed errors that say what went wrong, where, and how to fix it.

Services raise them; views, the API and commands render them in one place each.
"""

from __future__ import annotations


class CurationError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, hint: str = "", where: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.where = where

    def __str__(self) -> str:
        parts = [f"{self.where}: {self.message}" if self.where else self.message]
        if self.hint:
            parts.append(f"Fix: {self.hint}")
        return " ".join(parts)

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "where": self.where, "hint": self.hint}


class NotAllowed(CurationError):
    status = 403
    code = "not_allowed"


class NotFound(CurationError):
    status = 404
    code = "not_found"


class StaleRecord(CurationError):
    status = 409
    code = "stale"


class InvalidInput(CurationError):
    status = 400
    code = "invalid"
