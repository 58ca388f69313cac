"""The alert rules and the Grafana dashboard read metrics that exist.

A metric renamed in the code leaves an alert silent and a panel empty, with no
error anywhere: the names in the PromQL are compared with the families a
worker registers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.infra.files import INFRA, ROOT, yaml_file
from tests.infra.metric_names import (
    PROMETHEUS_BUILTINS,
    constructor_names,
    exported_families,
    exported_names,
    promql_metrics,
)

ALERTS = INFRA / "prometheus" / "alerts.yml"
DASHBOARD = INFRA / "grafana" / "dashboards" / "toolformer.json"
SEVERITIES = {"info", "warning", "critical"}
DURATION = re.compile(r"^\d+(?:ms|[smhdwy])$")
# kafka-exporter (danielqsj/kafka-exporter) writes every series named kafka_*.
EXPORTER_PREFIX = "kafka_"


def rules() -> list[dict[str, Any]]:
    return [rule for group in yaml_file(ALERTS)["groups"] for rule in group["rules"]]


def dashboard_queries() -> Iterator[str]:
    """Every PromQL expression of the dashboard, its panels nested in rows included."""
    document = json.loads(DASHBOARD.read_text(encoding="utf-8"))

    def walk(node: object) -> Iterator[str]:
        if isinstance(node, dict):
            expression = node.get("expr")
            if isinstance(expression, str):
                yield expression
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    yield from walk(document["panels"])
    for variable in document.get("templating", {}).get("list", []):
        query = variable.get("query")
        text = query.get("query") if isinstance(query, dict) else query
        if variable.get("type") == "query" and isinstance(text, str):
            label_values = re.match(r"^\s*label_values\((.*),\s*\w+\s*\)\s*$", text)
            yield label_values[1] if label_values else text


def unknown(expressions: Iterator[str]) -> dict[str, set[str]]:
    known = exported_names() | PROMETHEUS_BUILTINS
    found = {}
    for expression in expressions:
        names = {name for name in promql_metrics(expression)
                 if name not in known and not name.startswith(EXPORTER_PREFIX)}
        if names:
            found[expression] = names
    return found


@pytest.mark.parametrize(("expression", "names"), [
    ('sum by (le) (rate(a_bucket{tool=~"$tool"}[$__rate_interval]))', {"a_bucket"}),
    ("(sum(increase(b_total[10m])) or vector(0)) == 0 and on() sum(c) > 0", {"b_total", "c"}),
    ('max by (instance, mode) (d{mode!="redis"}) == 1', {"d"}),
    ("sum(e offset 5m) > 1e3 unless f", {"e", "f"}),
    ("histogram_quantile(0.99, sum(rate(g[5m])) by (le))", {"g"}),
    ("job:calls:rate5m * 2", {"job:calls:rate5m"}),
])
def test_promql_metrics_finds_the_selected_names(expression: str, names: set[str]) -> None:
    assert promql_metrics(expression) == names


def test_the_rules_file_is_complete() -> None:
    every = rules()
    assert every
    for rule in every:
        assert isinstance(rule.get("alert"), str), rule
        assert rule["alert"], rule
        assert isinstance(rule.get("expr"), str), rule["alert"]
        assert rule["expr"].strip(), rule["alert"]
        assert DURATION.match(str(rule.get("for", ""))), rule["alert"]
        assert rule.get("labels", {}).get("severity") in SEVERITIES, rule["alert"]
        annotations = rule.get("annotations", {})
        assert annotations.get("summary"), rule["alert"]
        assert annotations.get("description"), rule["alert"]
    names = [rule["alert"] for rule in every]
    assert len(names) == len(set(names))


def test_every_alert_has_a_promtool_test() -> None:
    tested = {case["alertname"] for test in yaml_file(INFRA / "prometheus" / "alerts_test.yml")
              ["tests"] for case in test.get("alert_rule_test", [])}
    assert {rule["alert"] for rule in rules()} == tested


def test_alerts_read_only_metrics_that_exist() -> None:
    assert unknown(rule["expr"] for rule in rules()) == {}


def test_the_dashboard_reads_only_metrics_that_exist() -> None:
    queries = list(dashboard_queries())
    assert len(queries) > 10  # the walk reached the panels inside rows
    assert unknown(iter(queries)) == {}


def test_the_metric_names_checked_against_are_all_the_code_defines() -> None:
    """exported_names() builds the worker's metrics; a family defined elsewhere would be
    missed by it, and this says so."""
    families = constructor_names(ROOT / "streams")
    assert families, "the scan found no metric constructor"
    # prometheus-client drops a counter's _total suffix from the family name.
    exported = {name.removesuffix("_total") for name in exported_families()}
    assert {name.removesuffix("_total") for name in families} - exported == set()
