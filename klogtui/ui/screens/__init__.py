"""Dialogs over the main screen (detail, context, facets, help, ...), one per module."""

__all__ = ["context", "detail", "error_log", "facets", "help", "save", "time_jump"]
