"""A tenant's learned model: which tool follows which, and where each argument came from.

Counts only, so confidence is an empirical probability and the model serialises to
compact JSON (:mod:`.snapshot`). Every table is capped by the settings; what does not
fit is not counted (a transition, a tool) or makes room by dropping the rarest entry
(an argument's candidate sources).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .protocol import PredictorSettings
from .values import ScalarKey

ArgSource = tuple[str, str, str]
"""``("arg", tool, name)``: copied from the most recent call of ``tool``'s argument ``name``."""
ResultSource = tuple[str, str, str]
"""``("result", tool, path)``: from that path in the most recent result of ``tool``;
a path with ``[*]`` fans out over a list."""
ConstSource = tuple[str, ScalarKey]
"""``("const", value)``: the same value every time."""
SourceKey = ArgSource | ResultSource | ConstSource

ARG = "arg"
RESULT = "result"
CONST = "const"
BRIDGE = "~"
"""Prefix of a bridging anchor: ``~search`` is "search, two turns back, over a weak turn"."""
WEAK_BELOW = 0.5
"""A turn is weak when none of its tools has a successor at least this likely."""


@dataclass(slots=True)
class SourceStats:
    """How often a source explained an argument; for ``[*]`` sources, at which list index."""

    hits: int = 0
    index_hits: list[int] | None = None


@dataclass(slots=True)
class NextStats:
    """What is known of ``tool`` in turns following a turn that called the anchor tool."""

    turns: int = 0
    """Such turns that called ``tool`` at least once."""
    calls: int = 0
    """Calls of ``tool`` in those turns."""
    arguments: dict[str, int] = field(default_factory=dict)
    """Calls that had each (usable) argument."""
    sources: dict[str, dict[SourceKey, SourceStats]] = field(default_factory=dict)


@dataclass(slots=True)
class TenantModel:
    """Transition counts and argument provenance of one tenant."""

    settings: PredictorSettings
    anchors: dict[str, int] = field(default_factory=dict)
    """Completed turns that called each tool (the anchor of what followed, if anything)."""
    follow: dict[str, dict[str, NextStats]] = field(default_factory=dict)
    transitions: int = 0

    def knows(self, tool: str) -> bool:
        """Whether ``tool`` is modelled, or may still be (room left under ``max_tools``)."""
        return tool in self.anchors or len(self.anchors) < self.settings.max_tools

    def turn_completed(self, tools: list[str]) -> None:
        """A turn that called ``tools`` is over (whatever follows it, if anything)."""
        for tool in tools:
            if self.knows(tool):
                self.anchors[tool] = self.anchors.get(tool, 0) + 1

    def weak(self, tools: list[str]) -> bool:
        """Whether a turn that called ``tools`` says little about the next turn: each tool
        has been seen ``min_support`` times, and none has a successor in at least
        ``WEAK_BELOW`` of its turns (a tool seen less is not known to be weak)."""
        for tool in tools:
            total = self.anchors.get(tool, 0)
            if total < self.settings.min_support:
                return False
            for stats in self.follow.get(tool, {}).values():
                if stats.turns / total >= WEAK_BELOW:
                    return False
        return True

    def stats(self, anchor: str, tool: str, *, create: bool) -> NextStats | None:
        """The stats of ``anchor -> tool``; created if asked and the caps allow."""
        row = self.follow.get(anchor)
        found = row.get(tool) if row is not None else None
        if found is not None or not create:
            return found
        if self.transitions >= self.settings.max_transitions or not (
                self.knows(anchor) and self.knows(tool)):
            return None
        self.anchors.setdefault(anchor, 0)
        self.anchors.setdefault(tool, 0)
        created = NextStats()
        self.follow.setdefault(anchor, {})[tool] = created
        self.transitions += 1
        return created

    def learn_call(self, stats: NextStats, first_in_turn: bool,
                   explained: dict[str, list[tuple[SourceKey, int | None]]]) -> None:
        """Count one call and the candidate sources of each of its arguments."""
        settings = self.settings
        if first_in_turn:
            stats.turns += 1
        stats.calls += 1
        for name, candidates in explained.items():
            if name not in stats.arguments and len(stats.arguments) >= 2 * settings.max_arguments:
                continue
            stats.arguments[name] = stats.arguments.get(name, 0) + 1
            table = stats.sources.setdefault(name, {})
            for source, index in candidates:
                _hit(table, source, index, settings)


def _hit(table: dict[SourceKey, SourceStats], source: SourceKey, index: int | None,
         settings: PredictorSettings) -> None:
    found = table.get(source)
    if found is None:
        if len(table) >= settings.max_sources_per_argument:
            rarest = min(table, key=lambda key: table[key].hits)
            if table[rarest].hits > 1:
                return
            del table[rarest]
        found = table[source] = SourceStats(
            index_hits=[0] * settings.max_fanout if index is not None else None)
    found.hits += 1
    if index is not None and found.index_hits is not None and index < len(found.index_hits):
        found.index_hits[index] += 1


def best_source(stats: NextStats, name: str) -> tuple[SourceKey, float, list[float] | None] | None:
    """The source that explains argument ``name`` best: (source, score, per-index scores).

    A plain source scores hits over calls; a ``[*]`` source scores, per list index,
    the share of turns that made the call for that index, and its best index ranks it.
    On a tie a plain source wins (one call rather than a fan-out), then the first seen.
    """
    best: tuple[SourceKey, float, list[float] | None] | None = None
    best_rank = (-1.0, -1)
    candidate: tuple[SourceKey, float, list[float] | None]
    for source, found in stats.sources.get(name, {}).items():
        if found.index_hits is not None:
            per_index = [hits / max(stats.turns, 1) for hits in found.index_hits]
            rank = (min(1.0, max(per_index)), 0)
            candidate = (source, rank[0], per_index)
        else:
            rank = (min(1.0, found.hits / max(stats.calls, 1)), 1)
            candidate = (source, rank[0], None)
        if rank > best_rank:
            best, best_rank = candidate, rank
    return best
