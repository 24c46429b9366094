"""System tests: real `klogtui` processes (collect, query, the TUI in tmux), the CLI end to
end, faults (SIGKILL, full disks, kernel limits, damaged stores) and the bench smoke run.
The slowest layer: `python -m pytest tests/system`."""
