"""Widgets of the main screen, one per module."""

__all__ = ["histogram", "log_view", "query_bar", "sources_tree", "status_bar"]
