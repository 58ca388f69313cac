"""The first predictor: tool transitions plus argument provenance, learned online.

After each turn, every tool the turn called is an *anchor*; each tool the next turn
calls is counted as following it, and each of that call's arguments is matched
against the session's earlier calls and results to count where its value came
from (:mod:`.model`). To predict, the anchors of the session's latest turn propose
the tools that usually follow them (and, after a weak turn, the anchors of the turn
before it, see :func:`_bridge`), with arguments resolved from this session's own
calls and results; confidence is the empirical probability of the tool times that of
each argument's source, and a prediction is returned when it reaches the adaptive
threshold of its (tenant, tool).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import Any

from .model import ARG, BRIDGE, CONST, RESULT, NextStats, SourceKey, TenantModel, best_source
from .protocol import Prediction, PredictorSettings
from .session import CallSeen, SessionState, signature_of
from .threshold import AdaptiveThreshold
from .values import ScalarKey, is_name, leaves, parse, render, scalar_arguments, starred
from .values import with_index as path_with_index

MAX_ID_CHARS = 256
"""Tenant, session and call ids longer than this are ignored (events bound them alike)."""
OK = "ok"


class TransitionPredictor:
    """Learns from observed sessions, per tenant; see the module's doc for how."""

    def __init__(self, settings: PredictorSettings | None = None) -> None:
        self.settings = settings or PredictorSettings()
        self._models: OrderedDict[str, TenantModel] = OrderedDict()
        self._sessions: OrderedDict[tuple[str, str], SessionState] = OrderedDict()
        self._thresholds: dict[tuple[str, str], AdaptiveThreshold] = {}

    # -- the Predictor protocol -------------------------------------------------------

    def observe_call(self, tenant: str, session_id: str, call_id: str, tool: str,
                     arguments: Mapping[str, Any], *, turn: str | None = None) -> None:
        if not (_id_ok(tenant, session_id, call_id) and is_name(tool)
                and isinstance(arguments, Mapping)):
            return
        state = self._session(tenant, session_id)
        if call_id in state.by_id:
            return  # a redelivered request: already learned from
        model = self.model(tenant)
        label = turn if isinstance(turn, str) and len(turn) <= MAX_ID_CHARS else None
        if not state.calls or (label != state.turn_label if label is not None
                               else state.result_since_call):
            self._next_turn(model, state, label)
        state.result_since_call = False
        scalars, complete = scalar_arguments(arguments, self.settings)
        first_in_turn = tool not in state.turn_tools
        if first_in_turn and len(state.turn_tools) < self.settings.max_tools:
            state.turn_tools.append(tool)
        explained = {name: [*self._candidates(state, value), ((CONST, value), None)]
                     for name, value in scalars.items()}
        for anchor in [*state.anchors, *state.bridge]:
            stats = model.stats(anchor, tool, create=True)
            if stats is not None:
                model.learn_call(stats, first_in_turn, explained)
        state.add_call(CallSeen(call_id, tool, state.turn, scalars), complete)

    def observe_result(self, tenant: str, session_id: str, call_id: str, tool: str, *,
                       status: str, value: Any) -> None:
        if not _id_ok(tenant, session_id, call_id):
            return
        state = self._sessions.get((tenant, session_id))
        if state is None:
            return
        state.result_since_call = True
        call = state.by_id.get(call_id)
        if call is not None and call.tool == tool and status == OK:
            state.add_result(call, leaves(value, self.settings))

    def end_session(self, tenant: str, session_id: str) -> None:
        state = self._sessions.pop((tenant, session_id), None)
        if state is not None and state.calls:
            model = self.model(tenant)
            model.turn_completed([*state.turn_tools, *_bridge(model, state)])

    def predict(self, tenant: str, session_id: str) -> list[Prediction]:
        state = self._sessions.get((tenant, session_id))
        model = self._models.get(tenant)
        if state is None or model is None or not state.calls:
            return []
        best: dict[Hashable, Prediction] = {}
        for anchor in [*state.turn_tools, *_bridge(model, state)]:
            total = model.anchors.get(anchor, 0)
            for tool, stats in model.follow.get(anchor, {}).items():
                if stats.turns < self.settings.min_support or total <= 0:
                    continue
                for prediction in self._proposals(state, anchor, tool, stats, total):
                    key = signature_of(tool, {name: _key(value) for name, value
                                              in prediction.arguments.items()})
                    if key in state.made:
                        continue
                    kept = best.get(key)
                    if kept is None or prediction.confidence > kept.confidence:
                        best[key] = prediction
        chosen = [p for p in best.values() if p.confidence >= self.threshold(tenant, p.tool)]
        chosen.sort(key=lambda p: (-p.confidence, p.tool, p.source))
        return chosen[: self.settings.max_predictions]

    def feedback(self, tenant: str, tool: str, used: bool) -> None:
        if not (_id_ok(tenant) and is_name(tool)):
            return
        found = self._threshold_state(tenant, tool)
        if found is not None:
            found.record(bool(used))

    # -- thresholds and models ------------------------------------------------------------

    def threshold(self, tenant: str, tool: str) -> float:
        """The confidence a prediction of ``tool`` needs now, for ``tenant``."""
        found = self._thresholds.get((tenant, tool))
        return found.value if found is not None else self._initial_threshold()

    def set_threshold(self, tenant: str, tool: str, value: float) -> None:
        """Restore a threshold (from a snapshot); clamped to the settings' bounds."""
        found = self._threshold_state(tenant, tool)
        if found is not None:
            found.value = min(self.settings.max_threshold, max(self.settings.min_threshold,
                                                               float(value)))

    def thresholds(self, tenant: str) -> dict[str, float]:
        """The thresholds of ``tenant`` that have moved from the initial one or been set."""
        return {tool: found.value for (owner, tool), found in self._thresholds.items()
                if owner == tenant}

    def model(self, tenant: str) -> TenantModel:
        """``tenant``'s model, created if new; the least recently used one makes room."""
        found = self._models.get(tenant)
        if found is None:
            found = self._models[tenant] = TenantModel(self.settings)
            while len(self._models) > self.settings.max_tenants:
                dropped, _ = self._models.popitem(last=False)
                for key in [key for key in self._thresholds if key[0] == dropped]:
                    del self._thresholds[key]
        else:
            self._models.move_to_end(tenant)
        return found

    def replace_model(self, tenant: str, model: TenantModel) -> None:
        """Use ``model`` for ``tenant`` (a loaded snapshot or a rebuild from the log)."""
        self.model(tenant)
        self._models[tenant] = model

    def tenants(self) -> list[str]:
        return list(self._models)

    @property
    def live_sessions(self) -> int:
        return len(self._sessions)

    def _initial_threshold(self) -> float:
        s = self.settings
        return min(s.max_threshold, max(s.min_threshold, s.precision_target))

    def _threshold_state(self, tenant: str, tool: str) -> AdaptiveThreshold | None:
        key = (tenant, tool)
        found = self._thresholds.get(key)
        if found is None:
            if len(self._thresholds) >= self.settings.max_tenants * self.settings.max_tools:
                return None
            s = self.settings
            found = self._thresholds[key] = AdaptiveThreshold(
                self._initial_threshold(), s.precision_target, s.min_threshold,
                s.max_threshold, window_size=s.feedback_window)
        return found

    # -- sessions -------------------------------------------------------------------------

    def _session(self, tenant: str, session_id: str) -> SessionState:
        key = (tenant, session_id)
        found = self._sessions.get(key)
        if found is None:
            found = self._sessions[key] = SessionState(self.settings)
            while len(self._sessions) > self.settings.max_sessions:
                self._sessions.popitem(last=False)
        else:
            self._sessions.move_to_end(key)
        return found

    def _next_turn(self, model: TenantModel, state: SessionState, label: str | None) -> None:
        bridge: list[str] = []
        if state.calls:
            bridge = _bridge(model, state)
            model.turn_completed([*state.turn_tools, *bridge])
        state.bridge = bridge
        state.anchors = list(state.turn_tools)
        state.turn_tools = []
        state.turn += 1
        state.turn_label = label
        state.index = None

    def _candidates(self, state: SessionState, value: ScalarKey
                    ) -> list[tuple[SourceKey, int | None]]:
        """Where ``value`` occurs in the session before the current turn (bounded)."""
        if state.index is None:
            state.index = _index(state, self.settings.max_fanout)
        found = state.index.get(value, [])
        return found[: self.settings.max_sources_per_argument]  # type: ignore[return-value]

    def _proposals(self, state: SessionState, anchor: str, tool: str, stats: NextStats,
                   total: int) -> list[Prediction]:
        """The calls of ``tool`` that ``anchor`` proposes for this session, with confidence."""
        p_tool = min(1.0, stats.turns / total)
        plain: dict[str, Any] = {}
        fanned: dict[str, tuple[SourceKey, list[float]]] = {}
        confidence = p_tool
        described: list[str] = []
        for name, seen in stats.arguments.items():
            if 2 * seen <= stats.calls:
                continue  # an argument most calls do not pass
            chosen = best_source(stats, name)
            if chosen is None:
                return []
            source, score, per_index = chosen
            described.append(f"{name}<-{_describe(source)}")
            if per_index is not None:
                fanned[name] = (source, per_index)
                continue
            value = self._resolve(state, source, None)
            if value is None:
                return []
            plain[name] = value
            confidence *= score
        head = f"{anchor}->{tool}" + (f" {' '.join(described)}" if described else "")
        if not fanned:
            return [Prediction(tool, plain, round(confidence, 6), head)]
        proposals: list[Prediction] = []
        for index in range(self.settings.max_fanout):
            arguments = dict(plain)
            share = 1.0
            for name, (source, per_index) in fanned.items():
                value = self._resolve(state, source, index)
                if value is None:
                    break
                arguments[name] = value
                share = min(share, per_index[index])
            else:
                if share > 0:
                    proposals.append(Prediction(tool, arguments, round(confidence * share, 6),
                                                f"{head} [{index}]"))
        return proposals

    def _resolve(self, state: SessionState, source: SourceKey, index: int | None) -> Any:
        """The value ``source`` gives in this session now, or None."""
        if source[0] == CONST:
            return source[1][1]
        kind, tool, where = source[0], str(source[1]), str(source[2])  # type: ignore[misc]
        for call in reversed(state.calls):
            if call.tool != tool:
                continue
            if kind == ARG and where in call.arguments:
                return call.arguments[where][1]
            if kind == RESULT and call.leaves is not None:
                try:
                    path = parse(where, self.settings)
                except ValueError:
                    return None
                if index is not None:
                    path = path_with_index(path, index)
                found = call.leaves.get(path)
                return found[1] if found is not None else None
        return None


def _bridge(model: TenantModel, state: SessionState) -> list[str]:
    """Anchors over the latest turn, if it was weak: ``~tool`` for each tool of the one before.

    A weak turn (see :meth:`TenantModel.weak`; an unrelated call, typically) says
    little about what comes next, so the turn before it speaks too, through
    transitions learned over weak turns only: what followed, one turn later, a
    turn that called ``tool`` when the turn in between was weak.
    """
    if not state.anchors or not model.weak(state.turn_tools):
        return []
    return [BRIDGE + tool for tool in state.anchors]


def _index(state: SessionState, max_fanout: int
           ) -> dict[ScalarKey, list[tuple[Hashable, int | None]]]:
    """Value -> the sources it can be copied from, per the "most recent call" rule."""
    index: dict[ScalarKey, list[tuple[Hashable, int | None]]] = {}
    seen_arguments: set[tuple[str, str]] = set()
    seen_results: set[str] = set()
    for call in reversed(state.calls):
        if call.turn >= state.turn:
            continue
        for name, value in call.arguments.items():
            if (call.tool, name) not in seen_arguments:
                seen_arguments.add((call.tool, name))
                index.setdefault(value, []).append(((ARG, call.tool, name), None))
        if call.leaves is not None and call.tool not in seen_results:
            seen_results.add(call.tool)
            for path, value in call.leaves.items():
                places = index.setdefault(value, [])
                places.append(((RESULT, call.tool, render(path)), None))
                fan = starred(path)
                if fan is not None and fan[1] < max_fanout:
                    places.append(((RESULT, call.tool, render(fan[0])), fan[1]))
    return index


def _describe(source: SourceKey) -> str:
    if source[0] == CONST:
        return "const"
    if source[0] == ARG:
        return f"{source[1]}.{source[2]}"  # type: ignore[misc]
    return f"result({source[1]}).{source[2]}"  # type: ignore[misc]


def _key(value: Any) -> ScalarKey:
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int):
        return ("i", value)
    if isinstance(value, float):
        return ("f", value)
    return ("s", value)


def _id_ok(*ids: object) -> bool:
    return all(isinstance(i, str) and 0 < len(i) <= MAX_ID_CHARS for i in ids)
