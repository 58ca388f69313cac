"""The transition predictor: what it learns, how confident it is, how its threshold moves."""

from __future__ import annotations

import json
from typing import Any

import pytest

from async_toolformer.agents.speculation import (
    Prediction,
    Predictor,
    PredictorSettings,
    TransitionPredictor,
    dump,
    load,
)
from async_toolformer.streams.devtools.bench.speculation_offline import simulate, train
from async_toolformer.streams.devtools.bench.speculation_workload import generate

T = "acme"


def _research(p: TransitionPredictor, n: int, *, top: int = 3, end: bool = True) -> str:
    """One research session: search, fetch the top results, summarise the query."""
    sid = f"r{n}"
    p.observe_call(T, sid, f"{sid}-s", "search", {"query": f"q{n}"}, turn="1")
    p.observe_result(T, sid, f"{sid}-s", "search", status="ok", value={
        "results": [{"url": f"https://x/{n}/{i}", "title": f"t{i}"} for i in range(5)]})
    for i in range(top):
        p.observe_call(T, sid, f"{sid}-f{i}", "fetch", {"url": f"https://x/{n}/{i}"}, turn="2")
    for i in range(top):
        p.observe_result(T, sid, f"{sid}-f{i}", "fetch", status="ok", value={"text": "..."})
    p.observe_call(T, sid, f"{sid}-z", "summarise", {"topic": f"q{n}", "words": 100}, turn="3")
    p.observe_result(T, sid, f"{sid}-z", "summarise", status="ok", value="done")
    if end:
        p.end_session(T, sid)
    return sid


def test_it_is_a_predictor() -> None:
    assert isinstance(TransitionPredictor(), Predictor)


def test_nothing_is_predicted_before_min_support() -> None:
    p = TransitionPredictor(PredictorSettings(min_support=3))
    _research(p, 0)
    _research(p, 1)
    p.observe_call(T, "new", "c1", "search", {"query": "k"}, turn="1")
    p.observe_result(T, "new", "c1", "search", status="ok",
                     value={"results": [{"url": "u0"}]})
    assert p.predict(T, "new") == []


def test_fan_out_over_a_result_list_and_copied_arguments() -> None:
    p = TransitionPredictor()
    for n in range(5):
        _research(p, n)
    p.observe_call(T, "live", "c1", "search", {"query": "kafka"}, turn="a")
    p.observe_result(T, "live", "c1", "search", status="ok", value={
        "results": [{"url": f"https://y/{i}", "title": "t"} for i in range(5)]})

    fetches = p.predict(T, "live")

    assert [(f.tool, f.arguments) for f in fetches] == [
        ("fetch", {"url": "https://y/0"}), ("fetch", {"url": "https://y/1"}),
        ("fetch", {"url": "https://y/2"})]  # never index 3 or 4: no session fetched them
    assert all(f.confidence == 1.0 for f in fetches)
    assert "results[*].url" in fetches[0].source

    for i in range(3):
        p.observe_call(T, "live", f"f{i}", "fetch", {"url": f"https://y/{i}"}, turn="b")
        p.observe_result(T, "live", f"f{i}", "fetch", status="ok", value={"text": "x"})

    # the topic comes from the search's argument, the word count is a constant
    assert p.predict(T, "live") == [Prediction(
        "summarise", {"topic": "kafka", "words": 100}, 1.0,
        "fetch->summarise topic<-search.query words<-const")]


def test_a_call_already_made_is_not_predicted() -> None:
    p = TransitionPredictor()
    for n in range(5):
        _research(p, n)
    p.observe_call(T, "live", "c1", "search", {"query": "kafka"}, turn="a")
    p.observe_result(T, "live", "c1", "search", status="ok",
                     value={"results": [{"url": f"https://y/{i}"} for i in range(3)]})
    p.observe_call(T, "live", "f0", "fetch", {"url": "https://y/0"}, turn="b")

    # the turn in progress anchors now: fetch -> summarise, not search -> fetch again
    assert [x.tool for x in p.predict(T, "live")] == ["summarise"]


def test_confidence_is_the_empirical_probability() -> None:
    p = TransitionPredictor(PredictorSettings(precision_target=0.5, min_threshold=0.1))
    for n in range(8):
        _research(p, n, top=3 if n % 2 else 2)  # the third result is fetched half the time
    p.observe_call(T, "live", "c1", "search", {"query": "k"}, turn="a")
    p.observe_result(T, "live", "c1", "search", status="ok",
                     value={"results": [{"url": f"u{i}"} for i in range(5)]})

    by_url = {x.arguments["url"]: x.confidence for x in p.predict(T, "live")}

    assert by_url == {"u0": 1.0, "u1": 1.0, "u2": 0.5}


def test_unknown_argument_sources_are_not_guessed() -> None:
    p = TransitionPredictor()
    for n in range(5):  # every next query is new: no source explains it
        sid = f"s{n}"
        p.observe_call(T, sid, "a", "weather", {"city": "Oslo"}, turn="1")
        p.observe_result(T, sid, "a", "weather", status="ok", value={"temp": n})
        p.observe_call(T, sid, "b", "search", {"query": f"fresh {n}"}, turn="2")
        p.end_session(T, sid)
    p.observe_call(T, "live", "a", "weather", {"city": "Oslo"}, turn="1")
    p.observe_result(T, "live", "a", "weather", status="ok", value={"temp": 9})
    assert p.predict(T, "live") == []


def test_turns_without_labels_split_at_results() -> None:
    labelled, unlabelled = TransitionPredictor(), TransitionPredictor()
    for p, label in ((labelled, True), (unlabelled, False)):
        for n in range(4):
            sid = f"s{n}"
            p.observe_call(T, sid, "a", "lookup", {"id": n}, turn="1" if label else None)
            p.observe_result(T, sid, "a", "lookup", status="ok", value={"order": f"o{n}"})
            p.observe_call(T, sid, "b", "orders", {"order": f"o{n}"},
                           turn="2" if label else None)
            p.end_session(T, sid)
    assert dump(labelled.model(T)) == dump(unlabelled.model(T))


def test_an_unrelated_turn_is_bridged_by_the_turn_before_it() -> None:
    p = TransitionPredictor()
    for n in range(8):  # the weather is unrelated: anything may follow it
        p.observe_call(T, f"w{n}", "w", "weather", {"x": n}, turn="1")
        p.observe_result(T, f"w{n}", "w", "weather", status="ok", value={"temp": n})
        p.observe_call(T, f"w{n}", "o", f"other{n}", {}, turn="2")
        p.end_session(T, f"w{n}")
    for n in range(20):
        if n % 4:
            _research(p, n)
            continue
        sid = f"noisy{n}"  # search, then an unrelated call, then the fetches
        p.observe_call(T, sid, "s", "search", {"query": f"q{n}"}, turn="1")
        p.observe_result(T, sid, "s", "search", status="ok",
                         value={"results": [{"url": f"https://x/{n}/{i}"} for i in range(5)]})
        p.observe_call(T, sid, "w", "weather", {"x": n}, turn="2")
        p.observe_result(T, sid, "w", "weather", status="ok", value={"temp": n})
        for i in range(3):
            p.observe_call(T, sid, f"f{i}", "fetch", {"url": f"https://x/{n}/{i}"}, turn="3")
        p.end_session(T, sid)
    p.observe_call(T, "live", "s", "search", {"query": "k"}, turn="1")
    p.observe_result(T, "live", "s", "search", status="ok",
                     value={"results": [{"url": f"u{i}"} for i in range(5)]})
    p.observe_call(T, "live", "w", "weather", {"x": 99}, turn="2")
    p.observe_result(T, "live", "w", "weather", status="ok", value={"temp": 1})

    found = p.predict(T, "live")

    assert [x.arguments["url"] for x in found] == ["u0", "u1", "u2"]
    assert all(x.source.startswith("~search->fetch") for x in found)
    # only weak turns are bridged: never the fetches between search and summarise
    assert "summarise" not in dump(p.model(T))["follow"]["~search"]


def test_failed_results_are_no_source() -> None:
    p = TransitionPredictor()
    for n in range(5):
        _research(p, n)
    p.observe_call(T, "live", "c1", "search", {"query": "k"}, turn="a")
    p.observe_result(T, "live", "c1", "search", status="error",
                     value={"results": [{"url": "u0"}]})
    assert p.predict(T, "live") == []


def test_tenants_learn_apart() -> None:
    p = TransitionPredictor()
    for n in range(5):
        _research(p, n)
    p.observe_call("other", "live", "c1", "search", {"query": "k"}, turn="a")
    p.observe_result("other", "live", "c1", "search", status="ok",
                     value={"results": [{"url": "u0"}]})
    assert p.predict("other", "live") == []


# -- the adaptive threshold ---------------------------------------------------------------


def test_threshold_rises_when_precision_drops_and_withholds_predictions() -> None:
    p = TransitionPredictor(PredictorSettings(precision_target=0.7, min_threshold=0.3))
    for n in range(10):
        _research(p, n, top=3 if n % 5 else 2)  # the third result: confidence 0.8
    start = p.threshold(T, "fetch")
    for _ in range(10):  # the runtime reports most speculative fetches unused
        p.feedback(T, "fetch", used=False)
    raised = p.threshold(T, "fetch")
    for _ in range(30):
        p.feedback(T, "fetch", used=False)

    assert start == 0.7
    assert raised > start
    assert p.threshold(T, "fetch") > raised
    assert p.threshold(T, "summarise") == 0.7  # other tools keep theirs
    p.observe_call(T, "live", "c1", "search", {"query": "k"}, turn="a")
    p.observe_result(T, "live", "c1", "search", status="ok",
                     value={"results": [{"url": f"u{i}"} for i in range(5)]})
    assert [x.arguments["url"] for x in p.predict(T, "live")] == ["u0", "u1"]


def test_threshold_falls_back_when_precision_is_high_but_not_below_the_floor() -> None:
    p = TransitionPredictor(PredictorSettings(precision_target=0.7, min_threshold=0.5))
    for _ in range(200):
        p.feedback(T, "fetch", used=True)
    assert p.threshold(T, "fetch") == 0.5


def test_held_out_precision_on_a_seeded_workload() -> None:
    p = TransitionPredictor()
    train(p, generate(11, 200))

    figures = simulate(p, generate(12, 200, prefix="held"))

    assert figures.proposed > 100
    assert figures.precision >= 0.7
    assert figures.recall >= 0.3
    assert figures.wasted_tool_ms_ratio <= 0.2


def test_a_threshold_below_the_target_costs_precision_it_then_wins_back() -> None:
    # thresholds start at 0.3 (a generous target): precision suffers at first, and the
    # feedback drives each threshold up until the measured precision is back on target
    settings = PredictorSettings(precision_target=0.9, min_threshold=0.3)
    p = TransitionPredictor(settings)
    train(p, generate(21, 200))
    for tool in ("fetch", "get_orders", "get_shipment", "weather", "convert"):
        p.set_threshold("bench", tool, 0.3)
    early = simulate(p, generate(22, 100, prefix="a"))
    late = simulate(p, generate(23, 300, prefix="b"))
    assert late.precision > early.precision
    assert p.threshold("bench", "get_shipment") > 0.3


# -- storage ------------------------------------------------------------------------------


def test_snapshot_round_trip_predicts_the_same() -> None:
    p = TransitionPredictor()
    train(p, generate(5, 120))
    p.set_threshold("bench", "fetch", 0.8)
    stored = json.dumps(dump(p.model("bench"), p.thresholds("bench")))

    model, thresholds = load(json.loads(stored), p.settings)
    q = TransitionPredictor()
    q.replace_model("bench", model)
    for tool, value in thresholds.items():
        q.set_threshold("bench", tool, value)

    assert dump(q.model("bench"), q.thresholds("bench")) == json.loads(stored)
    assert len(stored) < 64_000  # small enough to load at start
    held = generate(6, 60, prefix="x")
    assert simulate(p, held) == simulate(q, held)


@pytest.mark.parametrize(("snapshot", "complaint"), [
    ("nope", "snapshot"),
    ({"v": 2, "anchors": {}, "follow": {}}, "version"),
    ({"v": 1, "anchors": {"a b": 1}, "follow": {}}, "not a tool"),
    ({"v": 1, "anchors": {"a": -1}, "follow": {}}, "count"),
    ({"v": 1, "anchors": {"a": 1}, "follow": {"a": {"z": {}}}}, "missing from anchors"),
    ({"v": 1, "anchors": {"a": 1, "b": 1}, "follow": {"a": {"b": {
        "turns": 1, "calls": 1, "arguments": {"x": 1},
        "sources": {"x": [["result", "a", "q[*].." , 1, None]]}}}}}, "result path"),
    ({"v": 1, "anchors": {"a": 1, "b": 1}, "follow": {"a": {"b": {
        "turns": 1, "calls": 1, "arguments": {"x": 1},
        "sources": {"x": [["const", "i", "7", 1, None]]}}}}}, "constant"),
    ({"v": 1, "anchors": {f"t{i}": 1 for i in range(1000)}, "follow": {}}, "max_tools"),
    ({"v": 1, "anchors": {}, "follow": {}, "thresholds": {"a": 7}}, "[0, 1]"),
])
def test_a_bad_snapshot_is_refused_with_the_reason(snapshot: Any, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint.replace("[", r"\[").replace("]", r"\]")):
        load(snapshot, PredictorSettings())
