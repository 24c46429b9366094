"""The query's AST compiled to SQL over the store's schema (see klogtui.store.schema).

Source conditions (namespace, pod, container, node, workload, kind, restart, labels) are
evaluated here on the stored sources and become a set of source ids; text terms become an
FTS5 MATCH (on a store whose index keeps no positions, a phrase's tokens, the phrase then
checked on the candidate lines' text: klogtui.store.text_terms; on a store whose index is
keyed by bucket, every term on lines that share their bucket: klogtui.store.text_keys);
stream, level and time bounds become conditions on the line's columns, `.field`
conditions conditions on its fields (klogtui.store.field_sql). A query's regexes get one
second of matching in all (regex_budget), past which it fails with a message instead of
hanging; globs are matched without a regex, and nothing backtracks.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple, TypeAlias

from klogtui import regex_budget
from klogtui.errors import QueryError
from klogtui.model import Source
from klogtui.query.ast import And, EventField, Field, Node, Not, Or, Query, Text, TimeBound
from klogtui.query.editing import conjuncts
from klogtui.query.keys import DOMAINS, LINE_KEYS, NEGATING_OPS, TimeKind, label_name
from klogtui.regex_budget import Budget, BudgetExceeded, compile_pattern, searcher
from klogtui.store.field_sql import event_field_sql
from klogtui.store.ids import id_before_ts, id_for_ts, past_last_bucket
from klogtui.store.text_codec import MESSAGE
from klogtui.store.text_keys import BY_ID, TextKeys
from klogtui.store.text_terms import MATCH_FUNCTION, encode, has_phrase, tokens

if TYPE_CHECKING:
    from klogtui.query.times import Zone

__all__ = [
    "CompiledQuery",
    "SourcePredicate",
    "compile_query",
    "compile_source_predicate",
    "matcher",
    "value_getter",
]


class CompiledQuery(NamedTuple):
    """A query as SQL over `lines l` (see klogtui.store.schema), split for fast paths.

    A line matches when ALL of these hold (`full_where` gives them as one expression):

    Attributes:
        fts: an FTS5 MATCH expression over lines_fts (rowid = the line's text key, see
            `keys`), or None. Keyed by bucket, it may match more lines (`where` checks
            them).
        where: SQL boolean over alias `l` with `?` placeholders; "1" when empty. It only
            reads l.id, l.source_id, l.stream, l.level, l.message, l.fields and (past
            2059) l.ts.
        params: values for the placeholders in `where`, in order.
        source_ids: the line's source must be one of these (None: any source). Computed
            from the sources given to compile_query: recompile when they change.
        min_id: inclusive lower bound on l.id (from since:), or None.
        max_id: exclusive upper bound on l.id (from until:), or None.
        highlight: positive text terms and phrases to highlight (prefixes without "*").
        is_text: whether the query has any text term.
        keys: how the store's text index keys lines (text_keys.py).
    """

    fts: str | None
    where: str
    params: tuple[str, ...]
    source_ids: frozenset[int] | None
    min_id: int | None
    max_id: int | None
    highlight: tuple[str, ...]
    is_text: bool
    keys: TextKeys = BY_ID

    def full_where(self) -> tuple[str, tuple[str, ...]]:
        """The whole query as one SQL boolean over `l`, with its parameters."""
        parts: list[str] = []
        params: list[str] = []
        if self.fts is not None:
            parts.append(_fts_in(self.keys))
            params.append(self.fts)
        if self.source_ids is not None:
            parts.append(_ids_in("l.source_id", self.source_ids))
        if self.min_id is not None:
            parts.append(f"l.id >= {int(self.min_id)}")
        if self.max_id is not None:
            parts.append(f"l.id < {int(self.max_id)}")
        parts.append(self.where)
        params.extend(self.params)
        return " AND ".join(f"({p})" for p in parts), tuple(params)


def _fts_in(keys: TextKeys) -> str:
    """SQL: the line's key is among the hits of an FTS5 expression (the `?`)."""
    return f"{keys.key_of('l.id')} IN (SELECT rowid FROM lines_fts WHERE lines_fts MATCH ?)"


_FTS_NOT_IN = "l.id NOT IN (SELECT rowid FROM lines_fts WHERE lines_fts MATCH ?)"
_EMPTY = CompiledQuery(None, "1", (), None, None, None, (), False)

SourcePredicate: TypeAlias = Callable[[Source], bool]


def _ids_in(column: str, ids: frozenset[int] | set[int]) -> str:
    # Ints only, so inlining them is safe; "0" is SQL false when nothing matches.
    if not ids:
        return "0"
    return f"{column} IN ({','.join(str(int(i)) for i in sorted(ids))})"


def _has_tokens(value: str) -> bool:
    """Whether FTS5's unicode61 tokenizer finds a token (letters and digits) in value."""
    return any(ch.isalnum() for ch in value)


def _fts_string(value: str, prefix: bool) -> str:
    # A string literal is the one FTS5 construct with no syntax inside: every user
    # character is data. NUL would end the string early; it separates tokens anyway.
    lit = '"' + value.replace('"', '""').replace("\x00", " ") + '"'
    return lit + " *" if prefix else lit


def _fts_literal(t: Text, positions: bool) -> str:
    """A text term for FTS5: as a phrase when the index keeps positions, else the AND
    of its tokens (more lines than the phrase: the caller checks it on their text)."""
    if positions or not has_phrase(t):
        return _fts_string(t.value, t.prefix)
    words = tokens(t.value)  # folded: the terms the index holds
    last = len(words) - 1
    return (
        "("
        + " AND ".join(_fts_string(w, t.prefix and i == last) for i, w in enumerate(words))
        + ")"
    )


def _exact_fts(node: Node, positions: bool) -> str | None:
    """node as an FTS5 expression matching exactly its lines, or None."""
    if not positions and has_phrase(node):
        return None
    return _fts_expr(node, positions)


def _fts_expr(node: Node, positions: bool = True, superset: bool = False) -> str | None:
    """node as one parenthesized FTS5 expression, or None if FTS5 cannot express it.

    Without positions, a phrase becomes the AND of its tokens: the expression then
    matches the node's lines and more (exactly them when has_phrase(node) is False).
    With superset, the exclusions inside are left out (more lines again): on an index
    keyed by bucket, only an expression without NOT matches every bucket that holds a
    matching line.
    """
    if isinstance(node, Text):
        return _fts_literal(node, positions) if _has_tokens(node.value) else None
    if isinstance(node, Or):
        parts = [_fts_expr(i, positions, superset) for i in node.items]
        if any(p is None for p in parts):
            return None
        return "(" + " OR ".join(p for p in parts if p) + ")"
    if isinstance(node, And):
        pos: list[str] = []
        neg: list[str] = []
        for item in node.items:
            if isinstance(item, Not):
                if superset:
                    continue
                e = _exact_fts(item.item, positions)  # less subtracted would be fewer lines
                if e is None:
                    return None
                neg.append(e)
            else:
                e = _fts_expr(item, positions, superset)
                if e is None:
                    return None
                pos.append(e)
        if not pos:  # FTS5 NOT is binary: it needs something to subtract from
            return None
        return "(" + _fts_and_not(pos, neg) + ")"
    return None


def _fts_and_not(pos: list[str], neg: list[str]) -> str:
    expr = " AND ".join(pos)
    if neg:
        expr = f"({expr}) NOT ({' OR '.join(neg)})"
    return expr


def _glob_test(glob: str, ignore_case: bool) -> Callable[[str], bool]:
    """A test: whether a whole string matches glob (`*`: any characters, newlines too).

    Without a regex: each part between stars is found left to right after the one
    before, the first at the start and the last at the end. Nothing backtracks (a regex
    does on `*a*a*b`), and `klogtui query pod=web-*` is spared the regex module's import.
    """

    def fold(s: str) -> str:
        return s.casefold() if ignore_case else s

    first, *middle, last = (fold(part) for part in glob.split("*"))
    least = len(first) + len(last)

    def test(s: str) -> bool:
        s = fold(s)
        if len(s) < least or not s.startswith(first) or not s.endswith(last):
            return False
        at, end = len(first), len(s) - len(last)
        for part in middle:
            at = s.find(part, at, end)
            if at < 0:
                return False
            at += len(part)
        return True

    return test


def matcher(op: str, value: str, ignore_case: bool, budget: Budget) -> Callable[[str], bool]:
    """The positive form (= or =~) of op as a test on strings; a regex within budget."""
    if op in ("=~", "!~"):
        return searcher(compile_pattern(value, ignore_case), budget)
    if "*" in value:
        return _glob_test(value, ignore_case)
    if ignore_case:
        folded = value.casefold()
        return lambda s: s.casefold() == folded
    return lambda s: s == value


_NUMBER_TESTS: dict[str, Callable[[int, int], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def _field_pred(f: Field, budget: Budget) -> SourcePredicate:
    if f.key == "restart":  # the lexer let through only a number with =, != or <, >, ...
        number, compare = int(f.value), _NUMBER_TESTS[f.op]
        return lambda s: compare(s.key.restart, number)
    # Kinds are CamelCase names people type in lower case (kind=deployment).
    test = _budgeted(f, matcher(f.op, f.value, f.key == "kind", budget))
    negate = f.op in NEGATING_OPS
    get = value_getter(f.key)

    def has(s: Source) -> bool:
        v = get(s)
        return v is not None and test(v)

    if negate:
        return lambda s: not has(s)
    return has


def value_getter(key: str) -> Callable[[Source], str | None]:
    """The value a source key (namespace, pod, container, node, workload, kind or a label)
    has on a source."""
    label = label_name(key)
    if label is not None:
        return lambda s: s.labels.get(label)
    if key == "node":
        return lambda s: s.node
    if key == "workload":
        return lambda s: s.workload or None  # "": not known, matches nothing
    if key == "kind":
        return lambda s: s.workload_kind or None
    return lambda s: getattr(s.key, key)


def _budgeted(f: Field, test: Callable[[str], bool]) -> Callable[[str], bool]:
    """test, its BudgetExceeded naming the field that spent the budget."""

    def run(s: str) -> bool:
        try:
            return test(s)
        except BudgetExceeded:
            raise BudgetExceeded(f) from None

    return run


def _budget_error(e: BudgetExceeded, budget: Budget, text: str) -> QueryError:
    f = e.args[0] if e.args else None
    if not isinstance(f, Field):
        return QueryError("a regex ran too long", 0, text)
    col = text.find(f.value)
    return QueryError(
        f"{f.key}{f.op}{f.value} took longer than {budget.seconds:g} s to match: the "
        "pattern backtracks (nested repeats such as (a|a)+); simplify it",
        max(col, 0),
        text,
    )


def _source_pred(node: Node, budget: Budget) -> SourcePredicate | None:
    """node as a test on sources, or None if it looks at anything but sources."""
    if isinstance(node, Field):
        return None if node.key in LINE_KEYS else _field_pred(node, budget)
    if isinstance(node, Not):
        inner = _source_pred(node.item, budget)
        return None if inner is None else (lambda s: not inner(s))
    if isinstance(node, (And, Or)):
        preds = [_source_pred(i, budget) for i in node.items]
        if any(p is None for p in preds):
            return None
        ps = [p for p in preds if p is not None]
        if isinstance(node, And):
            return lambda s: all(p(s) for p in ps)
        return lambda s: any(p(s) for p in ps)
    return None


def _domain_values(f: Field, budget: Budget) -> set[int]:
    """The stream or level values f selects."""
    domain = DOMAINS[f.key]
    test = _budgeted(f, matcher(f.op, f.value, True, budget))
    hit = {v for name, v in domain.items() if test(name)}
    if f.op in NEGATING_OPS:
        return set(domain.values()) - hit
    return hit


class _Compiler:
    def __init__(
        self,
        sources: Sequence[Source],
        now_ns: int,
        budget: Budget,
        zone: Zone = "utc",
        positions: bool = False,
        keys: TextKeys = BY_ID,
    ) -> None:
        self.sources = sources
        self.now_ns = now_ns
        self.zone = zone
        self.budget = budget
        self.positions = positions
        self.keys = keys
        self.params: list[str] = []

    def text_match(self, node: Node) -> str:
        """A text-only node checked on the line's text (klogtui.store.text_terms)."""
        self.params.append(encode(node))
        return f"{MATCH_FUNCTION}({MESSAGE}, ?)"

    def fts_in(self, node: Node) -> str:
        """SQL: the line satisfies node, a text-only node with an exact FTS5 expression."""
        if not self.keys.shared:
            self.params.append(_exact_fts(node, self.positions) or "")
            return _fts_in(self.keys)
        self.params.append(_fts_expr(node, self.positions, superset=True) or "")
        return f"({_fts_in(self.keys)} AND {self.line_check(node)})"

    def line_check(self, node: Node) -> str:
        """SQL: a line whose key matched node's superset expression (_fts_expr) satisfies
        node itself. A line alone in its bucket needs no look at its text when that
        expression is exact; one sharing it always does."""
        check = self.text_match(node)
        if _fts_expr(node, self.positions, superset=True) == _exact_fts(node, self.positions):
            return f"({self.keys.alone()} OR {check})"
        return check

    def source_ids(self, pred: SourcePredicate) -> set[int]:
        return {s.id for s in self.sources if pred(s)}

    def sql(self, node: Node) -> str:
        pred = _source_pred(node, self.budget)
        if pred is not None:
            return _ids_in("l.source_id", self.source_ids(pred))
        if _exact_fts(node, self.positions) is not None:
            return self.fts_in(node)
        if _fts_expr(node) is not None:  # text terms only, with a phrase FTS5 cannot match
            return self.text_match(node)
        if isinstance(node, Text):  # no tokens: FTS5 cannot see it, use a substring test
            self.params.append(node.value)
            return f"instr({MESSAGE}, ?) > 0"
        if isinstance(node, EventField):
            return event_field_sql(node, self.params)
        if isinstance(node, Field):  # stream or level: the only non-source fields
            return _ids_in(f"l.{node.key}", _domain_values(node, self.budget))
        if isinstance(node, TimeBound):
            from klogtui.query.times import time_ns  # see _compile

            ts = time_ns(node.text, self.now_ns, self.zone)
            exact = _past_ids_pred(node.kind, ts)
            if node.kind == "until" and exact:
                return exact
            if node.kind == "since":
                bound = f"l.id >= {id_for_ts(ts)}"
            else:
                bound = f"l.id < {id_before_ts(ts)}"
            return f"({bound} AND {exact})" if exact else bound
        if isinstance(node, Not):
            return f"NOT ({self.sql(node.item)})"
        joiner = " AND " if isinstance(node, And) else " OR "
        return "(" + joiner.join(self.sql(i) for i in node.items) + ")"


def _past_ids_pred(kind: TimeKind, ts: int) -> str:
    """A timestamp test for a bound past 2059, where lines share the last id bucket
    and an id bound alone would take all of them or none; "" elsewhere."""
    if not past_last_bucket(ts):
        return ""
    return f"l.ts >= {int(ts)}" if kind == "since" else f"l.ts < {int(ts)}"


def _texts(node: Node, positive: bool, out: list[str], seen: set[str]) -> bool:
    """Collect positive text values into out; return whether any text term exists."""
    if isinstance(node, Text):
        if positive and node.value not in seen:
            seen.add(node.value)
            out.append(node.value)
        return True
    if isinstance(node, Not):
        return _texts(node.item, not positive, out, seen)
    if isinstance(node, (And, Or)):
        found = False
        for item in node.items:
            found = _texts(item, positive, out, seen) or found
        return found
    return False


def compile_query(
    q: Query,
    sources: Sequence[Source],
    now_ns: int,
    text: str = "",
    zone: Zone = "utc",
    positions: bool = False,
    keys: TextKeys = BY_ID,
) -> CompiledQuery:
    """Compile a parsed query against the store schema.

    Args:
        q: a query from parse().
        sources: every stored source; source conditions are evaluated on them here.
        now_ns: "now" in UTC ns, for since:/until: durations.
        text: the query as typed, for error messages.
        zone: where since:/until: times without a zone are (see query.times).
        positions: whether the store's text index keeps token positions (see
            text_terms.keeps_positions) and so matches phrases itself; without, a
            phrase's tokens are matched and the phrase checked on the lines' text,
            which gives the same lines on any store.
        keys: how the store's text index keys lines (text_keys.of): keyed by bucket,
            text terms are checked on the lines that share their bucket.

    Returns:
        The compiled query. Source conditions depend on `sources` and durations on
        `now_ns`: compile again when either should change.

    Raises:
        QueryError: its regexes ran past regex_budget.REGEX_BUDGET_S.
    """
    if q is None:
        return _EMPTY
    budget = Budget(regex_budget.REGEX_BUDGET_S)
    try:
        return _compile(q, sources, now_ns, budget, zone, positions, keys)
    except BudgetExceeded as e:
        raise _budget_error(e, budget, text or str(q)) from None


def _compile(
    q: Node,
    sources: Sequence[Source],
    now_ns: int,
    budget: Budget,
    zone: Zone,
    positions: bool,
    keys: TextKeys,
) -> CompiledQuery:
    comp = _Compiler(sources, now_ns, budget, zone, positions, keys)
    fts_pos: list[str] = []
    fts_neg: list[str] = []
    alone_exact: list[Node] = []  # keyed by bucket: text a key hit decides for a lone line
    where: list[str] = []
    src_preds: list[SourcePredicate] = []
    min_id: int | None = None
    max_id: int | None = None
    for c in conjuncts(q):
        if isinstance(c, TimeBound):
            # Imported by the first time bound: its patterns take ~1 ms to compile, of
            # each `klogtui query` process.
            from klogtui.query.times import time_ns

            ts = time_ns(c.text, now_ns, zone)
            if exact := _past_ids_pred(c.kind, ts):
                where.append(exact)
                if c.kind == "until":
                    continue  # the id bound would cut off every line past 2059
            if c.kind == "since":
                line_id = id_for_ts(ts)
                min_id = line_id if min_id is None else max(min_id, line_id)
            else:
                line_id = id_before_ts(ts)
                max_id = line_id if max_id is None else min(max_id, line_id)
        elif (pred := _source_pred(c, budget)) is not None:
            src_preds.append(pred)
        elif (e := _fts_expr(c, positions)) is not None:
            if keys.shared:
                # A key hit says some line of the bucket matches: the expression keeps
                # no NOT, and lines are checked (see _Compiler.line_check).
                e = _fts_expr(c, positions, superset=True) or e
                if e == _exact_fts(c, positions):
                    alone_exact.append(c)
                else:
                    where.append(comp.text_match(c))
            elif not positions and has_phrase(c):  # e matched the tokens: check the phrase
                where.append(comp.text_match(c))
            fts_pos.append(e)
        elif isinstance(c, Not) and (e := _exact_fts(c.item, positions)) is not None:
            if keys.shared:  # a key's NOT would drop the lines beside a line that has it
                where.append(f"NOT {comp.fts_in(c.item)}")
            else:
                fts_neg.append(e)
        else:
            where.append(comp.sql(c))
    if alone_exact:
        node = alone_exact[0] if len(alone_exact) == 1 else And(tuple(alone_exact))
        where.append(comp.line_check(node))
    fts: str | None = None
    if fts_pos:
        fts = _fts_and_not(fts_pos, fts_neg)
    elif fts_neg:  # only exclusions: nothing for a MATCH to start from
        where.append(_FTS_NOT_IN)
        comp.params.append(" OR ".join(fts_neg))
    source_ids: frozenset[int] | None = None
    if src_preds:
        source_ids = frozenset(comp.source_ids(lambda s: all(p(s) for p in src_preds)))
    highlight: list[str] = []
    is_text = _texts(q, True, highlight, set())
    return CompiledQuery(
        fts=fts,
        where=" AND ".join(where) or "1",
        params=tuple(comp.params),
        source_ids=source_ids,
        min_id=min_id,
        max_id=max_id,
        highlight=tuple(highlight),
        is_text=is_text,
        keys=keys,
    )


def compile_source_predicate(q: Query, budget_s: float | None = None) -> SourcePredicate | None:
    """Which sources a query selects, for the UI (e.g. to dim the sources tree).

    Args:
        q: a query from parse().
        budget_s: seconds of regex matching the test may spend over its whole life
            (default regex_budget.REGEX_BUDGET_S); keep it small on the UI's thread.

    Returns:
        A test on sources built from the query's top-level source conditions (those
        ANDed with the rest), or None when the query does not constrain sources. The
        test raises QueryError once its budget is spent.
    """
    if q is None:
        return None
    budget = Budget(regex_budget.REGEX_BUDGET_S if budget_s is None else budget_s)
    preds = [p for c in conjuncts(q) if (p := _source_pred(c, budget)) is not None]
    if not preds:
        return None

    def test(s: Source) -> bool:
        try:
            return all(p(s) for p in preds)
        except BudgetExceeded as e:
            raise _budget_error(e, budget, str(q)) from None

    return test
