"""Credentials for the API server: exec plugins run quietly, reloaded once on a 401.

The official client runs a kubeconfig's exec credential plugin with the terminal as
its stdin and stderr whenever stdout is a terminal: inside the TUI the plugin's
messages were drawn over the screen and a login prompt fought the UI for keys. Here a
plugin gets /dev/null as stdin and its stderr is captured (shown in the error log, or
in the one-line error); only `klogtui collect` in a terminal lets a plugin that asks
for it (interactiveMode) talk to the user.

Like client-go, a 401 makes us load the credentials again (run the plugin again,
re-read a tokenFile or the kubeconfig the login tool rewrote, the pod's rotated
service-account token) and retry once before the 401 counts: a plugin that gives no
expiry, a revoked or clock-skewed token must not leave klogtui stuck.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes.config.dateutil import parse_rfc3339
from kubernetes.config.exec_provider import ExecProvider
from kubernetes.config.kube_config import FileOrData, KubeConfigLoader

__all__ = ["Credentials", "PluginError", "QuietKubeConfigLoader"]

_PLUGIN_TIMEOUT_S = 120.0  # a plugin that waits for a browser login may take a while
_STDERR_SHOWN = 400  # characters of a plugin's stderr put into a message


class PluginError(Exception):
    """An exec credential plugin could not give credentials; str() says why, in one line."""


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    joined = " | ".join(lines)
    return joined if len(joined) <= _STDERR_SHOWN else "..." + joined[-_STDERR_SHOWN:]


def run_exec_plugin(
    provider: ExecProvider,
    interactive_mode: str,
    may_interact: bool,
    notes: Callable[[str], object],
) -> dict[str, Any]:
    """Run a plugin as client-go does, with stdin and stderr as klogtui needs them.

    Args:
        provider: the official client's parsed exec section (command, env, cluster).
        interactive_mode: the section's interactiveMode (Never, IfAvailable, Always).
        may_interact: the plugin may use the terminal (`klogtui collect` in one).
        notes: told what a plugin that worked wrote to stderr.

    Returns:
        The ExecCredential's status (token, or client certificate and key).

    Raises:
        PluginError: it needs a terminal we cannot give, failed, or said nonsense.
    """
    command = os.path.basename(str(provider.args[0]))
    interactive = may_interact and interactive_mode != "Never"
    if interactive_mode == "Always" and not interactive:
        raise PluginError(
            f"the exec credential plugin {command} needs a terminal to log in "
            "(interactiveMode: Always), which klogtui's screen cannot give it: log in once "
            "with kubectl in a terminal (e.g. `kubectl get pods`), or run `klogtui collect` "
            "there"
        )
    info: dict[str, Any] = {
        "apiVersion": provider.api_version,
        "kind": "ExecCredential",
        "spec": {"interactive": interactive},
    }
    if provider.cluster is not None:
        info["spec"]["cluster"] = provider.cluster.value
    env = dict(provider.env, KUBERNETES_EXEC_INFO=json.dumps(info))
    try:
        done = subprocess.run(
            provider.args,
            stdin=None if interactive else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=None if interactive else subprocess.PIPE,
            cwd=provider.cwd,
            env=env,
            text=True,
            timeout=_PLUGIN_TIMEOUT_S,
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise PluginError(f"the exec credential plugin {command} did not run: {e}") from e
    said = _one_line(done.stderr or "")
    if done.returncode != 0:
        detail = f": {said}" if said else ""
        raise PluginError(
            f"the exec credential plugin {command} failed (exit {done.returncode}){detail}"
        )
    if said:
        notes(f"the exec credential plugin {command} wrote: {said}")
    try:
        data = json.loads(done.stdout)
        status = data["status"]
        if data.get("apiVersion") != provider.api_version or not isinstance(status, dict):
            raise ValueError("not an ExecCredential of the requested apiVersion")
    except (ValueError, KeyError, TypeError) as e:
        raise PluginError(
            f"the exec credential plugin {command} gave no credential ({_one_line(str(e))})"
        ) from e
    return status


class QuietKubeConfigLoader(KubeConfigLoader):
    """The official kubeconfig loader, with exec plugins run by `run_exec_plugin`.

    Overrides the loader's exec step (kubernetes>=37 keeps it in
    `_load_from_exec_plugin`); everything else (clusters, TLS, tokens, tokenFile,
    auth-provider, proxy-url) stays the official client's.

    Args:
        may_interact: exec plugins may use the terminal.
        notes: told what plugins wrote to stderr.
    """

    def __init__(
        self,
        *args: Any,
        may_interact: bool = False,
        notes: Callable[[str], object] = lambda _: None,
        **kwargs: Any,
    ) -> None:
        self._may_interact = may_interact
        self._notes = notes
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]

    def _load_from_exec_plugin(self) -> bool | None:
        user: Any = self._user
        cluster: Any = self._cluster
        if "exec" not in user:
            return None
        exec_config = user["exec"]
        base_path = self._get_base_path(cluster.path)  # type: ignore[no-untyped-call]
        provider = ExecProvider(exec_config, base_path, cluster)  # type: ignore[no-untyped-call]
        mode = str(exec_config.safe_get("interactiveMode") or "IfAvailable")
        status = run_exec_plugin(provider, mode, self._may_interact, self._notes)
        if "token" in status:
            self.token = f"Bearer {status['token']}"
        elif "clientCertificateData" in status and "clientKeyData" in status:
            for attr, key in (
                ("cert_file", "clientCertificateData"),
                ("key_file", "clientKeyData"),
            ):
                path = FileOrData(  # type: ignore[no-untyped-call]
                    status,
                    None,
                    data_key_name=key,
                    file_base_path=base_path,
                    base64_file_content=False,
                    temp_file_path=self._temp_file_path,
                ).as_file()
                setattr(self, attr, path)
        else:
            raise PluginError(
                f"the exec credential plugin {os.path.basename(str(provider.args[0]))} gave "
                "neither a token nor a client certificate and key"
            )
        if "expirationTimestamp" in status:
            self.expiry = parse_rfc3339(status["expirationTimestamp"])  # type: ignore[no-untyped-call]
        return True


class Credentials:
    """Loads the client's credentials again when the server says 401, once per round.

    Args:
        reload: loads the credentials anew into the client's configuration (raises
            PluginError if an exec plugin fails).
        min_interval_s: a 401 this soon after a reload is not worth another one:
            the fresh credentials were rejected too.
    """

    def __init__(self, reload: Callable[[], None], min_interval_s: float = 10.0) -> None:
        self._reload = reload
        self._min_interval_s = min_interval_s
        self._lock = threading.Lock()
        self._last_reload = -float("inf")
        self.generation = 0  # bumped by each reload

    def refresh(self, seen: int) -> bool:
        """After a 401 to a request sent with credentials of generation `seen`: reload
        them unless another thread just did; True if a retry may succeed.

        Raises:
            PluginError: the exec plugin failed while reloading.
        """
        with self._lock:
            if self.generation != seen:
                return True  # reloaded since that request went out: retry with the new ones
            if time.monotonic() - self._last_reload < self._min_interval_s:
                return False
            self._last_reload = time.monotonic()
            self._reload()
            # Only now: a request that read the new generation must carry new credentials.
            self.generation += 1
            return True
