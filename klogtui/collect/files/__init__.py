"""Tail a node's kubelet log files: scan, watch, identity, read, file lifecycle, collector."""

from klogtui.collect.files.collector import (
    CHECKPOINT_PREFIX,
    FileCollector,
    Tuning,
    check_log_dir,
    default_node_name,
)

__all__ = ["CHECKPOINT_PREFIX", "FileCollector", "Tuning", "check_log_dir", "default_node_name"]
