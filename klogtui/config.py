"""User configuration: defaults for command-line options from a TOML file.

`$XDG_CONFIG_HOME/klogtui/config.toml` (default `~/.config/klogtui/config.toml`):

    retain = "7d"        # drop lines older than this
    max_size = "2GB"     # keep the store under this size (oldest lines go first)
    log_dir = "/var/log"
    since = "1h"
    max_streams = 50
    alertmanager = "http://127.0.0.1:9093"   # where alerts go (klogtui.alerts)
    alert_resend = "1m"  # how often firing alerts are sent again

    [[alert]]            # alert rules: read by klogtui.alerts.rules, not here
    name = "..."

Options given on the command line win over the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from klogtui.errors import KlogError

__all__ = ["KEYS", "config_path", "load_defaults"]

# Config key -> (argparse dest, expected type)
KEYS: dict[str, tuple[str, type]] = {
    "retain": ("retain", str),
    "max_size": ("max_size", str),
    "log_dir": ("log_dir", str),
    "since": ("since", str),
    "max_streams": ("max_streams", int),
    "alertmanager": ("alertmanager", str),
    "alert_resend": ("alert_resend", str),
}
# Tables read elsewhere: the alert rules (klogtui/alerts/rules.py).
_TABLES = ("alert",)


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config")
    return Path(base) / "klogtui" / "config.toml"


def load_defaults(path: Path | None = None) -> dict[str, Any]:
    """Argparse defaults from the config file ({} when there is none).

    Raises:
        KlogError: the file does not parse or has a value of the wrong type.
    """
    path = path or config_path()
    try:
        f = open(path, "rb")  # closed by the "with" below
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise KlogError(f"{path}: cannot read the configuration: {e}") from e
    # Imported here: most runs have no config file, and `klogtui query` starts faster.
    import tomllib

    try:
        with f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise KlogError(f"{path}: cannot read the configuration: {e}") from e
    defaults: dict[str, Any] = {}
    for key, value in data.items():
        if key in _TABLES:
            continue
        if key not in KEYS:
            raise KlogError(f"{path}: unknown setting {key!r} (known: {', '.join(KEYS)})")
        dest, kind = KEYS[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise KlogError(f"{path}: {key} must be a {kind.__name__}, not {value!r}")
        defaults[dest] = Path(str(value)) if dest == "log_dir" else value
    return defaults
