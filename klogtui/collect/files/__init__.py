"""The kubelet log file collector, one concern per module (as fluent-bit splits in_tail)."""

__all__ = [
    "collector",
    "fds",
    "identity",
    "lifecycle",
    "read",
    "scan",
    "sources",
    "tracked",
    "watch",
]
