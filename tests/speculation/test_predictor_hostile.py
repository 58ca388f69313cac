"""Hostile input: sizes, shapes and counts that must not grow the predictor or break it."""

from __future__ import annotations

import json
import sys
from typing import Any

from async_toolformer.agents.speculation import PredictorSettings, TransitionPredictor, dump
from async_toolformer.agents.speculation.values import leaves

T = "acme"


def _deep(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = {"k": [value]}
    return value


def _sources(p: TransitionPredictor) -> int:
    return sum(len(table) for model in p._models.values() for row in model.follow.values()
               for stats in row.values() for table in stats.sources.values())


def test_results_of_any_size_or_shape_are_indexed_within_bounds() -> None:
    settings = PredictorSettings()
    huge_list = {"results": [{"url": f"u{i}", "x": i} for i in range(200_000)]}
    wide = {f"k{i}": i for i in range(100_000)}
    long_strings = {"a": "x" * 10_000_000, "b": ["y" * 5_000] * 1_000}
    odd = {"a": float("nan"), "b": 10**400, "c": None, "d": b"bytes", "e": {1, 2},
           "bad key": 1, "k" * 500: 2, "ok": True}

    assert len(leaves(huge_list, settings)) == settings.max_paths_per_result
    assert len(leaves(wide, settings)) == settings.max_paths_per_result
    assert leaves(long_strings, settings) == {}
    assert leaves(odd, settings) == {("ok",): ("b", True)}
    assert leaves(_deep(100_000), settings) == {}  # deeper than max_path_depth: not walked
    assert leaves(_deep(1), settings) == {("k", 0): ("s", "leaf")}


def test_hostile_sessions_leave_every_table_capped() -> None:
    s = PredictorSettings(max_tenants=4, max_tools=8, max_transitions=16, max_sessions=20,
                          max_calls_per_session=6, max_results_per_session=2,
                          max_sources_per_argument=4, max_arguments=3, min_support=1)
    p = TransitionPredictor(s)
    big = {"results": [{"url": f"u{i}", "n": i} for i in range(10_000)]}
    for n in range(400):
        tenant, sid = f"tenant{n % 7}", f"s{n}"
        for turn in range(12):
            tool = f"tool{(n * 7 + turn) % 30}"
            args: dict[str, Any] = {f"a{i}": f"v{n}-{turn}-{i}" for i in range(20)}
            args["list"] = list(range(1000))
            p.observe_call(tenant, sid, f"c{turn}", tool, args, turn=str(turn))
            p.observe_result(tenant, sid, f"c{turn}", tool, status="ok", value=big)
            assert len(p.predict(tenant, sid)) <= s.max_predictions
        if n % 3:
            p.end_session(tenant, sid)

    assert len(p.tenants()) <= s.max_tenants
    assert p.live_sessions <= s.max_sessions
    for model in p._models.values():
        assert len(model.anchors) <= s.max_tools
        assert model.transitions <= s.max_transitions
        for row in model.follow.values():
            for stats in row.values():
                assert len(stats.arguments) <= 2 * s.max_arguments
                assert all(len(t) <= s.max_sources_per_argument for t in stats.sources.values())
    for state in p._sessions.values():
        assert len(state.calls) <= s.max_calls_per_session
        assert sum(c.leaves is not None for c in state.calls) <= s.max_results_per_session
    assert _sources(p) > 0  # it did learn, within the caps
    assert len(json.dumps([dump(p.model(t)) for t in p.tenants()])) < 2_000_000


def test_wrong_types_and_oversized_ids_are_ignored() -> None:
    p = TransitionPredictor()
    junk: list[tuple[Any, ...]] = [
        (None, "s", "c", "t", {}), (T, "s" * 300, "c", "t", {}), (T, "s", "", "t", {}),
        (T, "s", "c", "no such tool!", {}), (T, "s", "c", 42, {}), (T, "s", "c", "t", None),
        (T, "s", "c", "t", [1, 2]), (T, "s", "c", "t", {1: "x", "y": object()}),
    ]
    for args in junk:
        p.observe_call(*args, turn="1")
        p.observe_result(*args[:4], status="ok", value=args[4])
        p.feedback(args[0], args[3], used=True)
        p.end_session(args[0], args[1])
    p.observe_call(T, "s", "c", "t", {"x": 1}, turn=7)  # type: ignore[arg-type]
    p.observe_result(T, "unknown-session", "c", "t", status="ok", value={})
    assert p.predict(T, "s") == []
    assert p.predict("nobody", "nothing") == []


def test_a_prediction_fans_out_to_at_most_max_fanout_calls() -> None:
    p = TransitionPredictor(PredictorSettings(max_fanout=3, min_support=1, min_threshold=0.0,
                                              precision_target=0.01))
    for n in range(3):  # sessions that fetch every result, up to 50
        sid = f"s{n}"
        p.observe_call(T, sid, "a", "search", {"q": n}, turn="1")
        p.observe_result(T, sid, "a", "search", status="ok",
                         value={"r": [{"u": f"{n}-{i}"} for i in range(50)]})
        for i in range(50):
            p.observe_call(T, sid, f"f{i}", "fetch", {"u": f"{n}-{i}"}, turn="2")
        p.end_session(T, sid)
    p.observe_call(T, "live", "a", "search", {"q": 9}, turn="1")
    p.observe_result(T, "live", "a", "search", status="ok",
                     value={"r": [{"u": f"9-{i}"} for i in range(50)]})

    assert [x.arguments["u"] for x in p.predict(T, "live")] == ["9-0", "9-1", "9-2"]


def test_session_state_stays_small_per_session() -> None:
    p = TransitionPredictor()
    state_sizes = []
    for turn in range(2_000):
        p.observe_call(T, "long", f"c{turn}", "search", {"q": "x" * 200 + str(turn)},
                       turn=str(turn))
        p.observe_result(T, "long", f"c{turn}", "search", status="ok",
                         value={"r": [{"u": f"{turn}-{i}" * 20} for i in range(500)]})
        if turn % 500 == 499:
            state = p._sessions[(T, "long")]
            state_sizes.append((len(state.calls), len(state.made), len(state.by_id),
                                sys.getsizeof(state.made)))
    assert len(set(state_sizes)) == 1  # no growth from the 500th turn to the 2000th
