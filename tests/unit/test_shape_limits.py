"""The shape check on arguments: its shortcut for flat objects agrees with the full walk."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from async_toolformer.agents.executor.limits import shape_problem

_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                     st.text(max_size=5))
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=3), inner, max_size=4)),
    max_leaves=20)


def _reference(value: Any, max_depth: int, max_items: int | None) -> bool:
    """True when ``value`` is within the bounds, counted recursively."""
    def count(v: Any, depth: int) -> tuple[int, int]:
        if isinstance(v, dict | list):
            children = list(v.values()) if isinstance(v, dict) else v
            sub = [count(c, depth + 1) for c in children]
            return 1 + sum(n for n, _ in sub), max([depth, *(d for _, d in sub)])
        return 1, 0
    items, deepest = count(value, 1)
    return deepest <= max_depth and (max_items is None or items <= max_items)


@given(value=st.dictionaries(st.text(max_size=3), _values, max_size=6),
       max_depth=st.integers(0, 4), max_items=st.one_of(st.none(), st.integers(0, 12)))
def test_shape_problem_agrees_with_a_recursive_count(value: dict[str, Any], max_depth: int,
                                                     max_items: int | None) -> None:
    ok = shape_problem(value, max_depth=max_depth, max_items=max_items) is None
    assert ok == _reference(value, max_depth, max_items)


def test_a_flat_object_over_the_item_bound_is_refused() -> None:
    flat = {str(i): i for i in range(10)}
    assert shape_problem(flat, max_depth=64, max_items=11) is None
    assert shape_problem(flat, max_depth=64, max_items=10) == "it holds more than 10 values"
    assert shape_problem({}, max_depth=0, max_items=None) is not None
