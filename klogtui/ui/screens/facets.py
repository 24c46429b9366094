"""Pick a field and one of its values (with line counts) to narrow or exclude in the query.

Fields: the built-in ones, then the event fields (`.status`) found in the query's newest
matches, then the pod label keys."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import ClassVar, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from klogtui.errors import QueryError
from klogtui.query.ast import And, Node, to_text
from klogtui.query.editing import condition, is_condition, with_field
from klogtui.query.parsed import ParsedQuery
from klogtui.query.parser import parse
from klogtui.text import inert

__all__ = ["FIELDS", "FacetScreen", "excluding"]

# What failed, each with its own line under the values (the values, the label
# keys, the event fields, or the query edit a choice made).
_Failed = Literal["values", "labels", "fields", "query"]

FIELDS = ("namespace", "pod", "container", "stream", "level", "node")
"""The built-in facet fields; event fields follow as `.name`, label keys as `label:<key>`."""

Counts = tuple[list[tuple[str, int]], bool]
"""(value, line count) pairs and whether the counts are exact, as `Reader.facets` gives."""
Fetch = Callable[[str], Counts]


def _query_key(field: str) -> str:
    """The query-language key for a facet field (`label:app` -> `label.app`)."""
    return "label." + field[6:] if field.startswith("label:") else field


def excluding(query: str, key: str, value: str) -> str:
    """Query text with `key!=value` added to its top-level conditions.

    A top-level `key=value` on the same value is dropped (it would contradict), as
    is an existing identical exclusion. Built on the AST, so values are quoted as
    the language needs.

    Raises:
        QueryError: query does not parse, or key/value are not a valid condition.
    """
    cond = parse(with_field("", key, value))  # normalizes the key, checks the value
    if cond is None or not is_condition(cond):
        raise QueryError(f"not a field condition: {key}={value}", 0, query)
    neg = condition(key, "!=", value)
    root = parse(query)
    items: list[Node] = (
        [] if root is None else list(root.items if isinstance(root, And) else (root,))
    )
    items = [c for c in items if c not in (cond, neg)]
    at = 0
    while at < len(items) and is_condition(items[at]):
        at += 1
    items.insert(at, neg)
    return to_text(items[0] if len(items) == 1 else And(tuple(items)))


class FacetScreen(ModalScreen[ParsedQuery | None]):
    """Fields on the left, their values with line counts on the right.

    Moving through the fields loads that field's values on a thread worker (a newer
    field cancels the older load). Enter on a value dismisses with the query narrowed
    to `key=value`; `-` or `x` with `key!=value`; `/` filters the values as you type.
    Esc/q dismisses with None. Counts that are not exact (a text query counted over
    its newest matches only) are shown as `≥` lower bounds, with a line saying why.

    Args:
        query: the applied query.
        fetch: blocking; fetch(field) gives (pairs, exact) like `Reader.facets`: the
            (value, count) pairs for a field of FIELDS, `label:<key>` or `.name`, for
            "labels" ("key=value", count) pairs, for "fields" the event fields
            (".name", count). Called on worker threads, possibly three at once.
    """

    DEFAULT_CSS = """
    FacetScreen {
        align: center middle;
    }
    FacetScreen > #facet-box {
        width: 90%;
        max-width: 120;
        height: 80%;
        border: round $primary;
        background: $surface;
    }
    FacetScreen #facet-query {
        height: auto;
        max-height: 3;
        padding: 0 1;
        color: $text-muted;
    }
    FacetScreen #facet-fields {
        width: 32;
        height: 1fr;
    }
    FacetScreen #facet-right {
        width: 1fr;
        height: 1fr;
    }
    FacetScreen #facet-values {
        height: 1fr;
    }
    FacetScreen #facet-note {
        height: auto;
        color: $text-warning;
        padding: 0 1;
        display: none;
    }
    FacetScreen #facet-note.-shown {
        display: block;
    }
    FacetScreen #facet-error {
        height: auto;
        color: $error;
        padding: 0 1;
        display: none;
    }
    FacetScreen #facet-error.-shown {
        display: block;
    }
    FacetScreen .hint {
        height: 1;
        padding: 0 1;
        color: $text-muted;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close"),
        Binding("minus,x", "exclude", "Exclude"),
        Binding("slash", "filter", "Filter"),
        Binding("down", "focus_values", "Values", show=False),
    ]

    def __init__(self, query: ParsedQuery, fetch: Fetch) -> None:
        super().__init__()
        self._query = query
        self.query_text = query.typed
        self._fetch = fetch
        self._values: list[tuple[str, int]] = []
        self._exact = True
        self._field = FIELDS[0]
        self._values_worker: Worker[Counts] | None = None
        self._labels_worker: Worker[Counts] | None = None
        self._fields_worker: Worker[Counts] | None = None
        self._more_fields: dict[str, list[str]] = {"fields": [], "labels": []}
        self._errors: dict[_Failed, str] = {}  # by what failed

    def compose(self) -> ComposeResult:
        with Vertical(id="facet-box") as box:
            box.border_title = "Facets"
            yield Static(
                Text("query: " + (inert(self.query_text) or "(everything)")), id="facet-query"
            )
            with Horizontal():
                yield OptionList(*(Option(f, id=f) for f in FIELDS), id="facet-fields")
                with Vertical(id="facet-right"):
                    yield Input(placeholder="type to filter values", id="facet-filter")
                    yield OptionList(id="facet-values")
                    yield Static(
                        "≥ at least: only the newest matches (of a text query, or holding "
                        "this event field) were counted",
                        id="facet-note",
                    )
                    yield Static(id="facet-error")
            yield Static(
                "↑↓ move  Tab switch pane  Enter only this value  - or x exclude it  "
                "/ filter  Esc close",
                classes="hint",
            )

    def on_mount(self) -> None:
        fields = self.query_one("#facet-fields", OptionList)
        fields.highlighted = 0
        fields.focus()
        self._load(FIELDS[0])
        self._labels_worker = self.run_worker(
            partial(self._fetch, "labels"),
            group="facet-labels",
            thread=True,
            exit_on_error=False,
        )
        self._fields_worker = self.run_worker(
            partial(self._fetch, "fields"),
            group="facet-fields",
            thread=True,
            exit_on_error=False,
        )

    # -- loading ---------------------------------------------------------------------

    def _load(self, field: str) -> None:
        self._field = field
        self._values = []
        self._exact = True
        self.query_one("#facet-note").set_class(False, "-shown")
        values = self.query_one("#facet-values", OptionList)
        values.clear_options()
        values.loading = True
        self._show_error("values", None)
        self._show_error("query", None)
        self._values_worker = self.run_worker(
            partial(self._fetch, field),
            name=field,
            group="facet-values",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker is self._values_worker:
            if event.state == WorkerState.SUCCESS and worker.result is not None:
                self.query_one("#facet-values", OptionList).loading = False
                self._values, self._exact = worker.result
                self.query_one("#facet-note").set_class(not self._exact, "-shown")
                self._refilter()
            elif event.state == WorkerState.ERROR:
                self.query_one("#facet-values", OptionList).loading = False
                self._show_error("values", f"cannot count {self._field} values: {worker.error}")
        elif worker is self._labels_worker:
            if event.state == WorkerState.SUCCESS and worker.result is not None:
                keys = sorted({kv.partition("=")[0] for kv, _ in worker.result[0]})
                self._add_fields("labels", [f"label:{k}" for k in keys])
            elif event.state == WorkerState.ERROR:
                self._show_error("labels", f"cannot list labels: {worker.error}")
        elif worker is self._fields_worker:
            if event.state == WorkerState.SUCCESS and worker.result is not None:
                self._add_fields("fields", [name for name, _ in worker.result[0]])
            elif event.state == WorkerState.ERROR:
                self._show_error("fields", f"cannot list event fields: {worker.error}")

    def _add_fields(self, kind: str, names: list[str]) -> None:
        """Show FIELDS, then the event fields, then the label keys, whichever came first."""
        self._more_fields[kind] = names
        fields = self.query_one("#facet-fields", OptionList)
        highlighted = fields.highlighted
        at = None if highlighted is None else fields.get_option_at_index(highlighted).id
        fields.clear_options()
        ids = [*FIELDS, *self._more_fields["fields"], *self._more_fields["labels"]]
        fields.add_options(Option(Text(inert(i)), id=i) for i in ids)
        if at in ids:
            fields.highlighted = ids.index(at)

    def _refilter(self) -> None:
        needle = self.query_one("#facet-filter", Input).value.strip().casefold()
        values = self.query_one("#facet-values", OptionList)
        values.clear_options()
        values.add_options(
            Option(self._prompt(value, count, self._exact), id=str(i))
            for i, (value, count) in enumerate(self._values)
            if needle in value.casefold()
        )
        if values.option_count:
            values.highlighted = 0

    @staticmethod
    def _prompt(value: str, count: int, exact: bool) -> Text:
        number = f"{count:,}" if exact else f"≥{count:,}"
        text = Text(f"{number:>11}  ", style="dim", end="")
        text.append(inert(value))
        return text

    def _show_error(self, what: _Failed, message: str | None) -> None:
        if message is None:
            self._errors.pop(what, None)
        else:
            self._errors[what] = message
        error = self.query_one("#facet-error", Static)
        error.update(Text("\n".join(inert(m) for m in self._errors.values())))
        error.set_class(bool(self._errors), "-shown")

    # -- events ----------------------------------------------------------------------

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_list.id == "facet-fields" and event.option.id != self._field:
            assert event.option.id is not None
            self._load(event.option.id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_list.id == "facet-fields":
            self.query_one("#facet-values").focus()
        else:
            self._choose(event.option.id, exclude=False)

    def on_input_changed(self, event: Input.Changed) -> None:
        self._refilter()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        option = self.query_one("#facet-values", OptionList).highlighted_option
        if option is not None:
            self._choose(option.id, exclude=False)

    def _choose(self, option_id: str | None, *, exclude: bool) -> None:
        if option_id is None:
            return
        value = self._values[int(option_id)][0]
        key = _query_key(self._field)
        try:
            if exclude:
                text = excluding(self._query.canonical, key, value)
            else:
                text = with_field(self._query.canonical, key, value)
            narrowed = ParsedQuery.of(text)
        except QueryError as e:
            self._show_error("query", f"cannot edit the query: {e}")
            return
        self.dismiss(narrowed)

    # -- actions ---------------------------------------------------------------------

    def action_exclude(self) -> None:
        """Dismiss with the query excluding the highlighted value."""
        option = self.query_one("#facet-values", OptionList).highlighted_option
        if option is not None:
            self._choose(option.id, exclude=True)

    def action_filter(self) -> None:
        self.query_one("#facet-filter").focus()

    def action_focus_values(self) -> None:
        self.query_one("#facet-values").focus()

    def action_close(self) -> None:
        self.dismiss(None)
