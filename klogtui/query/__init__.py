"""The query language, headless: text -> AST -> canonical text.

One grammar serves the TUI search bar and `klogtui query`. In EBNF (ISO 14977; `ws` is
any run of Unicode whitespace, allowed between all tokens and required between two
terms that would otherwise run together)::

    query      = [ or_expr ] ;
    or_expr    = and_expr , { "OR" , and_expr } ;
    and_expr   = unary , { [ "AND" ] , unary } ;          (* adjacent terms AND *)
    unary      = "NOT" , unary
               | "-" , unary                               (* no space after "-", and the
                                                              next char is alnum, '"' or "(" *)
               | primary ;
    primary    = "(" , or_expr , ")" | term ;
    term       = time_bound | field | event_field | text ;
    time_bound = ( "since" | "until" ) , ":" , ( time | quoted ) ;
    time       = duration | absolute ;
    duration   = { digits , ( "w" | "d" | "h" | "m" | "s" ) }- ;        (* 15m, 1h30m, 7d *)
    absolute   = date , [ ( "T" | " " ) , hh , ":" , mm , [ ":" , ss , [ "." , frac ] ] ,
                 [ "Z" | ( "+" | "-" ) , hh , [ ":" ] , mm ] ] ;     (* 2026-11-24T10:00Z *)
    date       = yyyy , "-" , mm , "-" , dd ;
    field      = key , op , ( quoted | value ) ;
    op         = "=" | "!=" | "=~" | "!~" | "<" | "<=" | ">" | ">=" ;
    event_field = name , { name } , [ op , ( quoted | value ) ] ;   (* .a.b>=5; alone: exists *)
    name       = "." , ( bare_name | quoted ) ;
    bare_name  = ( ? a letter ? | "_" | "@" ) , { ? a letter or digit ? | "_" | "@" | "-" } ;
    key        = key_start , { key_start | "." | "/" | "-" } ;
    key_start  = ? a letter or digit ? | "_" ;
    value      = { ? any char but whitespace and '"'; ")" only to close a "(" of the
                 value itself ? }- ;
    text       = quoted , [ "*" ] | word ;
    word       = { ? any char but whitespace, "(", ")" and '"' ? }- ;  (* not OR/AND/NOT;
                                                                          a final "*" makes
                                                                          it a prefix *)
    quoted     = '"' , { ? any char but '"' and "\" ? | "\" , ? any char ? } , '"' ;

Inside quotes `\\"` is a quote and `\\\\` a backslash; any other backslash is kept as is
(so `"C:\\temp"` means what it says). `OR`, `AND` and `NOT` are keywords only in
upper case. OR binds looser than AND: `a b OR c` is `(a b) OR c`.

Keys: namespace (ns), pod, container (c), node, restart, workload (the owning Deployment,
StatefulSet, ... or the bare pod's name), kind (the workload's kind), stream, level; any
other key is a pod label (`app=web`; `label.app=web` says the same, and `label.pod=x`
names a label that shares a name with a key). Values are globs for `=`/`!=` (only `*` is
special) and Python regexes, searched anywhere in the value, for `=~`/`!~`; a query's
regexes get one second of matching in all (regex_budget), past which the query fails
with a message instead of hanging. Names, nodes and labels match case-sensitively;
kind (Deployment, StatefulSet, ...), stream (stdout, stderr, raw, combined) and level
(none, trace, debug, info, warn, error, fatal; aliases warning, err, critical, unknown)
case-insensitively.
`!=` and `!~` are the negations of `=` and `=~`, so `app!=web` also selects pods without
an `app` label, as in Kubernetes label selectors.

`<`, `<=`, `>`, `>=` compare numbers: only restart (whose values are whole numbers;
`=`, `!=` too) and event fields take them. `.name` terms are an event's own fields (a
JSON object's or logfmt line's, see klogtui.store.field_sql): a literal that is a
number compares as a number, anything else as text; a `-` before `.name` negates.
`.a.b` is the nested field, or when there is none the one named "a.b"; `."a.b"` only
the latter.

Text terms are full-text (SQLite FTS5, unicode61 tokens): a word or phrase matches its
tokens in order, case- and accent-insensitively; `timeo*` is a prefix. A term with no
letter or digit (`::`, `->`) has no tokens, so it is matched as a case-sensitive
substring instead.

Time bounds: `since:15m` / `until:2h` count back from now; absolute times without an
offset are UTC. since is inclusive, until exclusive, both to the store's 10 µs id
granularity, rounded outwards: a line in the bound's own 10 µs bucket is always kept.

Modules: `keys` (the names it knows), `times` (durations and times), `ast` (the
nodes), `lexer`, `parser` (`parse` gives the AST; a node's `str()` is canonical text,
so `parse(str(q)) == q`), `parsed` (the one parsed query the whole app shares) and
`editing` (rewriting a query's conditions). klogtui.store.compile turns an AST into
SQL for the store's reader.
"""
