"""One small exception hierarchy whose messages are meant for the user."""

from __future__ import annotations

from pathlib import Path

__all__ = ["BrokenStoreError", "CollectorError", "KlogError", "QueryError", "StoreError"]


class KlogError(Exception):
    """Base of every error klogtui reports to the user; str() is the message."""


class StoreError(KlogError):
    """The store cannot be opened or used (not a klogtui store, corrupt, locked)."""


class BrokenStoreError(StoreError):
    """The store file is damaged or is not a klogtui store; `path` says which file."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path
        # The command had printed lines before it met the damage: run again on the
        # rebuilt store, it would print them twice.
        self.printed_some = False


class CollectorError(KlogError):
    """A log source cannot be read (missing directory, bad kubeconfig, RBAC)."""


class QueryError(KlogError):
    """A query does not parse or cannot run.

    Attributes:
        column: 0-based position in the query text the error points at.
        query: the query text.
    """

    def __init__(self, message: str, column: int = 0, query: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.column = column
        self.query = query

    def pointer(self) -> str:
        """The query and a caret under the offending column, for terminals."""
        return f"{self.query}\n{' ' * self.column}^ {self.message}"
