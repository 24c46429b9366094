"""Hints for filters that find nothing, against a real store: the message a user reads,
and that the fix it offers finds the lines the query meant."""

from __future__ import annotations

import pytest

from klogtui.model import Batch, Level, SourceInfo, SourceKey, Stream
from klogtui.query.parsed import ParsedQuery
from klogtui.store import Reader, Store
from klogtui.store.hints import Hint, fixed, hints_for
from tests.store_helpers import SEC, T0, rec, write

CHECKOUT_PODS = ("checkout-7d9f-abc12", "checkout-7d9f-def34", "checkout-5c8b-xyz99")


def _key(ns: str, pod: str, container: str) -> SourceKey:
    return SourceKey(ns, pod, container, 0, pod_uid=f"uid-{pod}")


@pytest.fixture
def reader(store: Store) -> Reader:
    """Three checkout pods and a cart pod in `shop`, coredns in `kube-system`."""
    checkout = [_key("shop", pod, "app") for pod in CHECKOUT_PODS]
    cart = _key("shop", "cart-5b6c", "cart-server")
    dns = _key("kube-system", "coredns-abc12", "coredns")
    records = [rec(T0 + i * SEC, f"order {i} placed", k) for i, k in enumerate(checkout)]
    records += [
        rec(T0 + 5 * SEC, "request timeout talking to inventory", cart, Stream.STDERR, Level.WARN),
        rec(T0 + 6 * SEC, "cart saved", cart),
        rec(T0 + 7 * SEC, "reloaded", dns),
    ]
    sources = [
        SourceInfo(k, node="worker-1", labels={"app": "checkout", "tier": "web"}) for k in checkout
    ]
    sources += [
        SourceInfo(cart, node="worker-2", labels={"app": "cart", "app.kubernetes.io/name": "cart"}),
        SourceInfo(dns, node="worker-2", labels={"k8s-app": "kube-dns"}, state="deleted"),
    ]
    write(store, Batch(records, sources=sources))
    return store.reader()


def _hints(reader: Reader, text: str) -> list[Hint]:
    return hints_for(ParsedQuery.of(text), reader)


def _found(reader: Reader, text: str) -> list[str]:
    return [ln.message for ln in reader.newest(text, 100)]


def _fixed_text(reader: Reader, text: str) -> str:
    query = ParsedQuery.of(text)
    fix = fixed(query, hints_for(query, reader))
    assert fix is not None
    return fix.typed


CHECKOUT_LINES = ["order 0 placed", "order 1 placed", "order 2 placed"]


def test_a_name_that_is_a_prefix_says_so_and_the_fix_finds_the_lines(reader: Reader) -> None:
    assert _found(reader, "pod=checkout") == []  # the query runs as written
    [hint] = _hints(reader, "pod=checkout")
    assert hint.message == "no pod `checkout`; 3 pods start with it: pod=checkout-*"
    assert _fixed_text(reader, "pod=checkout") == "pod=checkout-*"
    assert _found(reader, "pod=checkout-*") == CHECKOUT_LINES


@pytest.mark.parametrize(
    ("typed", "message", "fix"),
    [
        (
            "pod=Checkout-*",
            "no pod `Checkout-*`; 3 pods match it in another case",
            "pod=checkout-*",
        ),
        (
            "pod=Checkout",
            "no pod `Checkout`; 3 pods start with it in another case",
            "pod=checkout-*",
        ),
        (
            "pod=CHECKOUT-7D9F-ABC12",
            "no pod `CHECKOUT-7D9F-ABC12`; 1 pod matches it in another case",
            "pod=checkout-7d9f-abc12",
        ),
        ("ns=sho", "no namespace `sho`; 1 namespace starts with it", "namespace=sho*"),
        ("c=cart", "no container `cart`; 1 container starts with it", "container=cart-*"),
        ("node=worker", "no node `worker`; 2 nodes start with it", "node=worker-*"),
        ("tier=WEB", "no label value `tier=WEB`; 1 value matches it in another case", "tier=web"),
        ("app=check", "no label value `app=check`; 1 value starts with it", "app=check*"),
    ],
)
def test_names_hinted_for_each_metadata_key_and_case(
    reader: Reader, typed: str, message: str, fix: str
) -> None:
    [hint] = _hints(reader, typed)
    assert hint.message == f"{message}: {fix}"
    assert _fixed_text(reader, typed) == fix
    assert _found(reader, typed) == []
    assert _found(reader, fix) != []


def test_an_unknown_key_names_the_close_key_and_the_query_still_runs(reader: Reader) -> None:
    assert _found(reader, "namepsace=shop") == []  # a label nobody has: no error, no lines
    [hint] = _hints(reader, "namepsace=shop")
    assert hint.message == "no label `namepsace`; did you mean namespace?"
    assert _fixed_text(reader, "namepsace=shop") == "namespace=shop"
    assert len(_found(reader, "namespace=shop")) == 5


@pytest.mark.parametrize(
    ("typed", "message", "fix"),
    [
        ("levle=warn", "no label `levle`; did you mean level?", "level=warn"),
        ("ap=cart", "no label `ap`; did you mean app?", "app=cart"),
        ("App=cart", "no label `App`; did you mean app?", "app=cart"),
        ("k8sapp=kube-dns", "no label `k8sapp`; did you mean k8s-app?", "k8s-app=kube-dns"),
        (
            "-contianer=coredns",
            "no label `contianer`; did you mean container?",
            "-container=coredns",
        ),
        ("severity=warn", "no label `severity`; did you mean level?", "level=warn"),
        ("hostname=worker-1", "no label `hostname`; did you mean node?", "node=worker-1"),
    ],
)
def test_close_keys_are_built_in_keys_and_stored_label_keys(
    reader: Reader, typed: str, message: str, fix: str
) -> None:
    [hint] = _hints(reader, typed)
    assert hint.message == message
    assert _fixed_text(reader, typed) == fix


@pytest.mark.parametrize(
    ("typed", "fix"),
    [
        ("message=~timeout", "timeout"),
        ("msg=timeout", "timeout"),
        ('message=~"^request timeout"', '"request timeout"'),
        ("message=*inventory*", "inventory"),
        ("-message=~timeout", "-timeout"),
    ],
)
def test_a_message_key_points_to_the_text_search(reader: Reader, typed: str, fix: str) -> None:
    [hint] = _hints(reader, typed)
    key = typed.lstrip("-").split("=")[0]
    assert hint.message == f'no label `{key}`; search the text with words or "a phrase": {fix}'
    assert _fixed_text(reader, typed) == fix
    found = _found(reader, fix)
    if fix.startswith("-"):
        assert "request timeout talking to inventory" not in found and found
    else:
        assert found == ["request timeout talking to inventory"]


def test_a_regex_on_message_gets_the_hint_without_a_fix(reader: Reader) -> None:
    query = ParsedQuery.of("message=~time.*out")
    [hint] = hints_for(query, reader)
    assert hint.message == 'no label `message`; search the text with words or "a phrase"'
    assert fixed(query, [hint]) is None


def test_a_key_close_to_nothing_is_named_without_a_guess(reader: Reader) -> None:
    [hint] = _hints(reader, "owner=alice")
    assert hint.message == "no label `owner` on any stored pod"
    assert hint.fix is None


def test_a_store_without_labels_says_where_labels_come_from(store: Store) -> None:
    web = _key("shop", "web-1", "app")
    write(store, Batch([rec(T0, "hello", web)], sources=[SourceInfo(web, node="n1")]))
    [hint] = hints_for(ParsedQuery.of("app=web"), store.reader())
    assert hint.message == (
        "no label `app`: no stored pod has any label (log files carry none; the "
        "Kubernetes API does)"
    )
    [hint] = hints_for(ParsedQuery.of("nmespace=shop"), store.reader())
    assert hint.message == "no label `nmespace`; did you mean namespace?"


def test_fixes_keep_the_rest_of_the_query_and_apply_together(reader: Reader) -> None:
    typed = "(pod=checkout OR lvl=warn) -timeout namepsace=shop"
    assert [h.message.split(";")[0] for h in _hints(reader, typed)] == [
        "no pod `checkout`",
        "no label `lvl`",
        "no label `namepsace`",
    ]
    fix = _fixed_text(reader, typed)
    assert fix == "(pod=checkout-* OR level=warn) -timeout namespace=shop"
    assert _found(reader, fix) == CHECKOUT_LINES


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "pod=checkout-*",
        "pod=checkout-7d9f-abc12",
        "ns=shop app=checkout",
        "app.kubernetes.io/name=cart",
        "k8s-app=kube-dns",  # the label of a deleted pod is still a label
        "timeout level=warn stream=stderr since:1h",
        "pod!=checkout",  # excludes nothing, but says so plainly
        "-pod=checkout",
        "pod=~checkout",
        "pod=nothing-like-it",
        "restart=1",  # a number, checked by the parser
        "kind=deployment",  # kinds match in any case
    ],
)
def test_correct_or_unrelated_queries_get_no_hint(reader: Reader, typed: str) -> None:
    assert _hints(reader, typed) == []


def test_an_empty_store_gives_no_hints(store: Store) -> None:
    assert hints_for(ParsedQuery.of("pod=checkout namepsace=shop"), store.reader()) == []
