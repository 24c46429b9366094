"""Remote mode's credentials against the API double: exec plugins that keep quiet
(stdin /dev/null, stderr into the error log), and credentials loaded again on a 401
(plugins without expiry, rotated tokenFile, rewritten kubeconfig, client certificates
from a plugin) before a 401 is reported."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from klogtui.cli import main
from klogtui.collect.base import CollectorStats
from klogtui.collect.kube.collector import KubeCollector, KubeOptions
from klogtui.errors import CollectorError
from klogtui.store import Store
from tests.kube_double import FakeCluster, KubeDouble
from tests.kube_double.plugins import ExecPlugin
from tests.kube_double.tls import double_ca
from tests.kube_run import FAST, seqs, settle
from tests.waiting import wait_for

PYTHON = os.path.basename(sys.executable)


@pytest.fixture
def double() -> Iterator[KubeDouble]:
    with KubeDouble(FakeCluster(token="t1")) as d:
        d.cluster.add_pod("shop", "web-1")
        d.cluster.emit("shop", "web-1", "app", 3, "a")
        yield d


class Collecting:
    """A collector on `kubeconfig` writing into `store`, like `klogtui` does."""

    def __init__(self, kubeconfig: Path, store: Store, may_interact: bool = False) -> None:
        self.stats = CollectorStats()
        self.writer = store.start_writer()
        options = KubeOptions(
            str(kubeconfig), None, ["shop"], False, None, may_interact=may_interact, timings=FAST
        )
        self.collector = KubeCollector(options, self.writer, self.stats)

    def __enter__(self) -> Collecting:
        self.collector.start()
        wait_for(self.collector.caught_up, timeout=20, what="caught up")
        return self

    def __exit__(self, *exc: object) -> None:
        self.collector.stop()
        self.collector.join(10)
        self.writer.flush(10)
        self.writer.close()

    def errors(self) -> list[tuple[str, str]]:
        """What the error log shows, but for the broken streams `rotate` causes."""
        errors = [(e.where, e.message) for e in self.stats.snapshot().errors]
        return [e for e in errors if not e[1].startswith("log stream broke, reconnecting")]


def rotate(double: KubeDouble, token: str) -> None:
    """The server stops taking the old credentials; open streams and watches end."""
    c = double.cluster
    c.token = token
    c.break_streams("shop")
    c.end_watches()


# -- item 5: exec plugins inside the TUI ---------------------------------------------------


def test_exec_plugin_gets_no_terminal_and_its_stderr_goes_to_the_error_log(
    double: KubeDouble, store: Store, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    plugin = ExecPlugin(tmp_path / "plugin")
    plugin.give_token("t1")
    plugin.say("Opening a browser to log in...\n")
    kubeconfig = double.kubeconfig(tmp_path / "config", user=plugin.user())
    with Collecting(kubeconfig, store) as run:
        settle(store, {"shop/web-1/app#0": seqs("a", range(3))})
        errors = run.errors()
    assert plugin.runs() == [{"stdin_devnull": True, "interactive": False}]
    assert errors == [
        (
            "credentials",
            f"the exec credential plugin {PYTHON} wrote: Opening a browser to log in...",
        )
    ]
    # Nothing reached the terminal, where the TUI draws.
    assert capfd.readouterr().err == ""


def test_expiring_plugin_token_is_renewed_quietly_while_collecting(
    double: KubeDouble, store: Store, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    plugin = ExecPlugin(tmp_path / "plugin")
    # The client renews a token 5 minutes before it expires: this one at every request.
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))
    plugin.give_token("t1", expiry=soon)
    plugin.say("refreshing the token\n")
    kubeconfig = double.kubeconfig(tmp_path / "config", user=plugin.user())
    with Collecting(kubeconfig, store) as run:
        plugin.give_token("t2", expiry=soon)
        rotate(double, "t2")
        double.cluster.emit("shop", "web-1", "app", 2, "a")
        settle(store, {"shop/web-1/app#0": seqs("a", range(5))})
        errors = run.errors()
    runs = plugin.runs()
    assert len(runs) >= 2
    assert all(r == {"stdin_devnull": True, "interactive": False} for r in runs)
    assert errors == [
        ("credentials", f"the exec credential plugin {PYTHON} wrote: refreshing the token")
    ]
    assert capfd.readouterr().err == ""


def test_failing_exec_plugin_is_one_line_with_what_it_said(
    double: KubeDouble, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    plugin = ExecPlugin(tmp_path / "plugin")
    plugin.say("error: refresh token expired\nrun `corp-login` to log in again\n", exit_code=1)
    kubeconfig = double.kubeconfig(tmp_path / "config", user=plugin.user())
    code = main(["collect", "--kubeconfig", str(kubeconfig), "--db", str(tmp_path / "k.db")])
    assert code == 1
    assert capfd.readouterr().err == (
        f"klogtui: cannot get credentials for context 'double': the exec credential plugin "
        f"{PYTHON} failed (exit 1): error: refresh token expired | run `corp-login` to log in "
        "again\n"
    )


def test_plugin_that_must_prompt_is_refused_in_the_tui_with_a_clear_message(
    double: KubeDouble, store: Store, tmp_path: Path
) -> None:
    plugin = ExecPlugin(tmp_path / "plugin", interactive_mode="Always")
    plugin.give_token("t1")
    kubeconfig = double.kubeconfig(tmp_path / "config", user=plugin.user())
    with pytest.raises(CollectorError) as info:
        Collecting(kubeconfig, store, may_interact=False)
    assert str(info.value) == (
        f"cannot get credentials for context 'double': the exec credential plugin {PYTHON} "
        "needs a terminal to log in (interactiveMode: Always), which klogtui's screen cannot "
        "give it: log in once with kubectl in a terminal (e.g. `kubectl get pods`), or run "
        "`klogtui collect` there"
    )
    assert plugin.runs() == []


# -- item 6: credentials loaded again on a 401 ------------------------------------------------


def test_plugin_without_expiry_is_run_again_on_401_and_nothing_is_lost(
    double: KubeDouble, store: Store, tmp_path: Path
) -> None:
    plugin = ExecPlugin(tmp_path / "plugin")
    plugin.give_token("t1")  # no expirationTimestamp: only a 401 says it is stale
    kubeconfig = double.kubeconfig(tmp_path / "config", user=plugin.user())
    with Collecting(kubeconfig, store) as run:
        plugin.give_token("t2")
        rotate(double, "t2")
        double.cluster.emit("shop", "web-1", "app", 2, "a")
        double.cluster.add_pod("shop", "web-2")
        double.cluster.emit("shop", "web-2", "app", 2, "b")
        settle(
            store,
            {"shop/web-1/app#0": seqs("a", range(5)), "shop/web-2/app#0": seqs("b", range(2))},
        )
        assert run.errors() == [], run.errors()
    assert len(plugin.runs()) == 2  # once at start, once for all the 401s together


def test_rotated_token_file_is_read_again_on_401(
    double: KubeDouble, store: Store, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("t1")
    kubeconfig = double.kubeconfig(tmp_path / "config", user={"tokenFile": str(token_file)})
    with Collecting(kubeconfig, store) as run:
        token_file.write_text("t2")
        rotate(double, "t2")
        double.cluster.emit("shop", "web-1", "app", 2, "a")
        settle(store, {"shop/web-1/app#0": seqs("a", range(5))})
        assert run.errors() == [], run.errors()


def test_kubeconfig_rewritten_by_a_login_tool_is_read_again_on_401(
    double: KubeDouble, store: Store, tmp_path: Path
) -> None:
    kubeconfig = double.kubeconfig(tmp_path / "config")
    with Collecting(kubeconfig, store) as run:
        # What `kubectl oidc-login` and the like do: write the new token into the file.
        cfg = json.loads(kubeconfig.read_text())
        cfg["users"][0]["user"] = {"token": "t2"}
        kubeconfig.write_text(json.dumps(cfg))
        rotate(double, "t2")
        double.cluster.emit("shop", "web-1", "app", 2, "a")
        settle(store, {"shop/web-1/app#0": seqs("a", range(5))})
        assert run.errors() == [], run.errors()


def test_client_certificate_from_a_plugin_is_renewed_on_401_over_tls(
    store: Store, tmp_path: Path
) -> None:
    ca = double_ca()
    with KubeDouble(FakeCluster(token="nobody-has-it"), tls=True) as double:
        double.cluster.cert_users = {"alice"}
        double.cluster.add_pod("shop", "web-1")
        double.cluster.emit("shop", "web-1", "app", 3, "a")
        plugin = ExecPlugin(tmp_path / "plugin")
        plugin.give_cert(*ca.client_cert("alice"))
        kubeconfig = double.kubeconfig(tmp_path / "config", user=plugin.user())
        with Collecting(kubeconfig, store) as run:
            plugin.give_cert(*ca.client_cert("bob"))
            double.cluster.cert_users = {"bob"}
            rotate(double, "nobody-has-it")
            double.cluster.emit("shop", "web-1", "app", 2, "a")
            settle(store, {"shop/web-1/app#0": seqs("a", range(5))})
            assert run.errors() == [], run.errors()
        assert len(plugin.runs()) == 2


def test_revoked_login_is_reported_after_one_reload(double: KubeDouble, tmp_path: Path) -> None:
    plugin = ExecPlugin(tmp_path / "plugin")
    plugin.give_token("t1")
    kubeconfig = double.kubeconfig(tmp_path / "config", user=plugin.user())
    double.cluster.token = "someone-else"
    options = KubeOptions(str(kubeconfig), None, ["shop"], False, None, timings=FAST)
    collector = KubeCollector(options, Store(tmp_path / "k.db").start_writer(), CollectorStats())
    with pytest.raises(CollectorError) as info:
        collector.check()
    assert str(info.value) == (
        f"the API server at {double.url} rejected the credentials of context 'double' "
        f"(401 Unauthorized), also freshly loaded: log in again or fix the user in {kubeconfig}"
    )
    assert len(plugin.runs()) == 2
