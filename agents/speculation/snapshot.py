"""A tenant's model as compact JSON-ready data, and back, checked against the settings.

The snapshot holds counts and thresholds, never live sessions: it is what a worker
loads at start (or rebuilds from the log). Loading refuses, with a ValueError saying
where, anything a snapshot written by :func:`dump` could not contain: wrong types,
negative counts, names or paths the model would not accept, tables over the caps.
"""

from __future__ import annotations

from typing import Any

from .model import ARG, BRIDGE, CONST, RESULT, NextStats, SourceKey, SourceStats, TenantModel
from .protocol import PredictorSettings
from .values import is_name, parse, scalar_key

VERSION = 1
_MAX_COUNT = 2**53


def dump(model: TenantModel, thresholds: dict[str, float] | None = None) -> dict[str, Any]:
    """``model`` (and its tenant's thresholds) as plain JSON data."""
    follow: dict[str, dict[str, Any]] = {}
    for anchor, row in model.follow.items():
        follow[anchor] = {tool: _dump_stats(stats) for tool, stats in row.items()}
    return {"v": VERSION, "anchors": dict(model.anchors), "follow": follow,
            "thresholds": dict(sorted((thresholds or {}).items()))}


def _dump_stats(stats: NextStats) -> dict[str, Any]:
    sources: dict[str, list[list[Any]]] = {}
    for name, table in stats.sources.items():
        sources[name] = [[*_dump_source(source), found.hits, found.index_hits]
                         for source, found in table.items()]
    return {"turns": stats.turns, "calls": stats.calls, "arguments": dict(stats.arguments),
            "sources": sources}


def _dump_source(source: SourceKey) -> list[Any]:
    value = source[1]
    if isinstance(value, tuple):
        return [CONST, value[0], value[1]]
    return list(source)


def load(data: object, settings: PredictorSettings) -> tuple[TenantModel, dict[str, float]]:
    """The model and thresholds of a :func:`dump`; ValueError if ``data`` is not one."""
    root = _mapping(data, "snapshot")
    if root.get("v") != VERSION:
        raise ValueError(f"snapshot version must be {VERSION}")
    model = TenantModel(settings)
    anchors = _mapping(root.get("anchors"), "anchors")
    if len(anchors) > settings.max_tools:
        raise ValueError(f"anchors: more than max_tools ({settings.max_tools}) tools")
    for tool, count in anchors.items():
        model.anchors[_anchor(tool, "anchors")] = _count(count, f"anchors.{tool}")
    for anchor, row in _mapping(root.get("follow"), "follow").items():
        for tool, raw in _mapping(row, f"follow.{anchor}").items():
            where = f"follow.{anchor}.{tool}"
            if anchor not in model.anchors or _name(tool, where) not in model.anchors:
                raise ValueError(f"{where}: a transition between tools missing from anchors")
            stats = model.stats(anchor, tool, create=True)
            if stats is None:
                raise ValueError(f"{where}: over max_transitions ({settings.max_transitions})")
            _load_stats(stats, _mapping(raw, where), where, settings)
    thresholds: dict[str, float] = {}
    for tool, value in _mapping(root.get("thresholds", {}), "thresholds").items():
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
            raise ValueError(f"thresholds.{tool}: a number in [0, 1] expected")
        thresholds[_name(tool, "thresholds")] = float(value)
    if len(thresholds) > settings.max_tools:
        raise ValueError("thresholds: more than max_tools entries")
    return model, thresholds


def _load_stats(stats: NextStats, raw: dict[str, Any], where: str,
                settings: PredictorSettings) -> None:
    stats.turns = _count(raw.get("turns"), f"{where}.turns")
    stats.calls = _count(raw.get("calls"), f"{where}.calls")
    arguments = _mapping(raw.get("arguments"), f"{where}.arguments")
    if len(arguments) > 2 * settings.max_arguments:
        raise ValueError(f"{where}.arguments: too many arguments")
    for name, count in arguments.items():
        stats.arguments[_name(name, f"{where}.arguments")] = _count(count, f"{where}.{name}")
    for name, entries in _mapping(raw.get("sources"), f"{where}.sources").items():
        if name not in stats.arguments or not isinstance(entries, list):
            raise ValueError(f"{where}.sources.{name}: a list for a known argument expected")
        if len(entries) > settings.max_sources_per_argument:
            raise ValueError(f"{where}.sources.{name}: over max_sources_per_argument")
        table = stats.sources.setdefault(name, {})
        for entry in entries:
            source, found = _load_source(entry, f"{where}.sources.{name}", settings)
            table[source] = found


def _load_source(entry: object, where: str, settings: PredictorSettings
                 ) -> tuple[SourceKey, SourceStats]:
    if not isinstance(entry, list) or len(entry) != 5:
        raise ValueError(f"{where}: [kind, a, b, hits, index_hits] expected")
    kind, first, second, hits, index_hits = entry
    source: SourceKey
    if kind == CONST:
        value = scalar_key(second, settings)
        if value is None or value[0] != first:
            raise ValueError(f"{where}: a constant of the type it names expected")
        source = (CONST, value)
    elif kind in (ARG, RESULT):
        _name(first, where)
        if kind == ARG:
            _name(second, where)
        elif not isinstance(second, str):
            raise ValueError(f"{where}: a result path expected")
        else:
            parse(second, settings)
        source = (kind, first, second)
    else:
        raise ValueError(f"{where}: unknown source kind {str(kind)[:20]!r}")
    found = SourceStats(_count(hits, where))
    if index_hits is not None:
        if not isinstance(index_hits, list) or len(index_hits) != settings.max_fanout:
            raise ValueError(f"{where}: index_hits must list max_fanout counts")
        found.index_hits = [_count(hit, where) for hit in index_hits]
    return source, found


def _mapping(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise ValueError(f"{where}: an object expected")
    return value


def _name(value: object, where: str) -> str:
    if not is_name(value):
        raise ValueError(f"{where}: {str(value)[:80]!r} is not a tool or argument name")
    return str(value)


def _anchor(value: object, where: str) -> str:
    """A tool name, or a bridging anchor (``~`` and a tool name)."""
    if isinstance(value, str) and value.startswith(BRIDGE):
        return BRIDGE + _name(value[len(BRIDGE):], where)
    return _name(value, where)


def _count(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < _MAX_COUNT:
        raise ValueError(f"{where}: a count (a non-negative integer) expected")
    return value
