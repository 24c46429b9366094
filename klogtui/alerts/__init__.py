"""Alerting on incoming logs: rules from the config file, evaluated on each commit,
state kept in the store, alerts delivered to Prometheus Alertmanager.

Headless (no Textual): `klogtui collect` and the app run the same engine. Modules:
rules.py (the [[alert]] tables), language.py (the one door to the query language),
matcher.py (a rule over one commit's lines), window.py (sliding counts), state.py
(inactive/pending/firing), state_table.py (the store's `alerts` table), engine.py
(the evaluation thread), alertmanager.py (delivery), command.py (`klogtui alerts`).
"""
