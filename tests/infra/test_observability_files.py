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

from tests.infra.files import INFRA, ROOT, compose, yaml_file
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


DATASOURCE = INFRA / "grafana" / "provisioning" / "datasources" / "prometheus.yml"


def dashboard_panels() -> list[dict[str, Any]]:
    panels = json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]
    return [inner for panel in panels for inner in [panel, *panel.get("panels", [])]]


def test_every_metric_of_ours_has_a_panel() -> None:
    """A family a worker exports but no panel shows is a figure nobody looks at."""
    shown = {name for query in dashboard_queries() for name in promql_metrics(query)}
    ours = {name for name in exported_families() if name.startswith("toolformer_")}
    unshown = {name for name in ours
               if not {name, f"{name}_total", f"{name}_bucket", f"{name}_count",
                       f"{name}_sum"} & shown}
    assert unshown == set()


def test_panel_ids_and_places_are_unique() -> None:
    panels = dashboard_panels()
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    places = [(p["gridPos"]["x"], p["gridPos"]["y"]) for p in panels]
    assert len(places) == len(set(places))
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


def test_the_call_latency_panel_shows_exemplars_that_link_to_traces() -> None:
    """The worker writes exemplars labelled trace_id on this histogram's buckets
    (streams/worker/metrics.py); Grafana shows them on a query with exemplar on, and links
    them through the datasource's destination of that label."""
    latency = [target for panel in dashboard_panels() for target in panel.get("targets", [])
               if "toolformer_call_duration_seconds_bucket" in target.get("expr", "")]
    assert latency
    assert all(target.get("exemplar") is True for target in latency)
    [source] = yaml_file(DATASOURCE)["datasources"]
    destinations = source["jsonData"]["exemplarTraceIdDestinations"]
    assert [d["name"] for d in destinations] == ["trace_id"]
    assert all(d.get("url") or d.get("datasourceUid") for d in destinations)


def test_prometheus_keeps_exemplars() -> None:
    """Without the feature flag Prometheus drops the exemplars it scrapes."""
    command = compose()["services"]["prometheus"]["command"]
    assert "--enable-feature=exemplar-storage" in command
