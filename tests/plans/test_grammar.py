"""The pure parts of plans: paths, references, dependency checks and the plan text parser."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from async_toolformer.agents.plans import (
    DependencyCycleError,
    DependencyLimitError,
    InvalidReferenceError,
    PathNotFoundError,
    PlanStep,
    PlanStream,
    UnknownReferenceError,
    check_dependencies,
    find_cycle,
    find_refs,
    parse_path,
    parse_plan,
    resolve_path,
    substitute,
)
from async_toolformer.agents.plans.text import MAX_LINE_CHARS, MAX_STEPS, PlanProblem

OUTPUT = {"results": [{"url": "https://a", "tags": ["x", "y"]}], "a": {"b": [0, 1, {"c": 2}]}}


@pytest.mark.parametrize(("path", "value"), [
    ("", OUTPUT),
    ("results[0].url", "https://a"),
    ("results[0].tags[1]", "y"),
    ("a.b[2].c", 2),
])
def test_paths_lead_to_values(path: str, value: Any) -> None:
    assert resolve_path(OUTPUT, parse_path(path)) == value


@pytest.mark.parametrize(("path", "words"), [
    ("results[1]", "has 1 items: no item [1]"),
    ("results.url", "is a list, not an object"),
    ("a.b[2].c.d", "is a number, not an object"),
    ("missing", "has no key 'missing'"),
    ("a[0]", "is an object, not a list"),
])
def test_a_path_that_leads_nowhere_says_where(path: str, words: str) -> None:
    with pytest.raises(PathNotFoundError, match=words.replace("[", r"\[").replace("]", r"\]")):
        resolve_path(OUTPUT, parse_path(path))


@pytest.mark.parametrize("path", [
    ".a", "a..b", "a[", "a[01]", "a[-1]", "a[1000000]", "a b", "a.[0]", "1a", "a.b$",
    "a" * 65, "a" + ".b" * 40, "x" * 300, "results[*]",
])
def test_paths_off_the_grammar_are_refused(path: str) -> None:
    with pytest.raises(InvalidReferenceError):
        parse_path(path)


def test_references_are_found_and_substituted() -> None:
    arguments = {"url": {"$ref": "c1", "path": "results[0].url"},
                 "all": [{"$ref": "c1"}, {"n": {"$ref": "c2", "path": "n"}}], "plain": 3}
    assert sorted(r.call_id for r in find_refs(arguments)) == ["c1", "c1", "c2"]
    assert substitute(arguments, {"c1": OUTPUT, "c2": {"n": 5}}) == {
        "url": "https://a", "all": [OUTPUT, {"n": 5}], "plain": 3}


@pytest.mark.parametrize(("arguments", "error"), [
    ({"v": {"$ref": "c1", "path": "x", "default": 1}}, InvalidReferenceError),
    ({"v": {"$ref": 7}}, InvalidReferenceError),
    ({"v": {"$ref": ""}}, InvalidReferenceError),
    ({"v": {"$ref": "c\x00"}}, InvalidReferenceError),
    ({"v": {"$ref": "c1", "path": ["a"]}}, InvalidReferenceError),
    ({"v": [{"$ref": "c1"}] * 65}, DependencyLimitError),
])
def test_malformed_references_are_refused(arguments: dict[str, Any],
                                          error: type[Exception]) -> None:
    with pytest.raises(error):
        check_dependencies("me", ["c1"], arguments)


def test_references_nested_too_deep_are_refused_without_recursion() -> None:
    deep: Any = {"$ref": "c1"}
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(InvalidReferenceError, match="nested more than"):
        find_refs({"v": deep})


def test_dependency_checks() -> None:
    assert check_dependencies("me", ["a"], {"x": 1}) == []  # ordering only: allowed
    with pytest.raises(DependencyCycleError, match="depends on itself"):
        check_dependencies("me", ["me"], {})
    with pytest.raises(UnknownReferenceError, match="does not list"):
        check_dependencies("me", ["a"], {"v": {"$ref": "b"}})
    with pytest.raises(DependencyLimitError, match="over the limit of 32"):
        check_dependencies("me", [f"c{i}" for i in range(33)], {})


def test_a_path_missing_from_an_output_names_the_reference() -> None:
    with pytest.raises(PathNotFoundError, match=r"reference c1\.results\[3\]"):
        substitute({"v": {"$ref": "c1", "path": "results[3]"}}, {"c1": OUTPUT})


def test_cycles_are_found_through_any_number_of_calls() -> None:
    graph = {"a": ["b"], "b": ["c", "x"], "c": ["a"], "x": []}
    assert find_cycle("a", lambda c: graph.get(c, [])) == ["a", "b", "c", "a"]
    assert find_cycle("x", lambda c: graph.get(c, [])) is None
    chain = {f"n{i}": [f"n{i + 1}"] for i in range(50_000)}  # long: iterative, bounded
    assert find_cycle("n0", lambda c: chain.get(c, [])) is None


PLAN = """Let me think.
$1 = search(query="kafka exactly once", limit=3)
$2 = fetch(url=$1.results[0].url, headers={"a": [1, 2]})
$3 = summarize(text=$2, style=null, short=true, ratio=0.5)
join()
$4 = ignored(after="join")
"""


def test_a_plan_becomes_steps_with_references() -> None:
    steps = parse_plan(PLAN)
    assert all(isinstance(s, PlanStep) for s in steps)
    one, two, three = steps
    assert isinstance(one, PlanStep)
    assert isinstance(two, PlanStep)
    assert isinstance(three, PlanStep)
    assert (one.tool, one.arguments, one.depends_on) == (
        "search", {"query": "kafka exactly once", "limit": 3}, ())
    assert two.arguments == {"url": {"$ref": "$1", "path": "results[0].url"},
                             "headers": {"a": [1, 2]}}
    assert (two.depends_on, three.depends_on) == ((1,), (2,))
    assert three.arguments["text"] == {"$ref": "$2"}
    assert [s.index for s in steps] == [0, 1, 2]


@given(st.lists(st.integers(min_value=1, max_value=len(PLAN)), max_size=20))
def test_streaming_in_any_pieces_gives_the_same_plan(cuts: list[int]) -> None:
    stream = PlanStream()
    got = []
    previous = 0
    for cut in [*sorted(cuts), len(PLAN)]:
        got += stream.feed(PLAN[previous:cut])
        previous = cut
    got += stream.finish()
    assert got == parse_plan(PLAN)


def test_a_step_is_ready_as_soon_as_its_line_ends() -> None:
    stream = PlanStream()
    assert stream.feed('$1 = search(query="a")') == []
    [step] = stream.feed("\n$2 = fetch(")
    assert isinstance(step, PlanStep)
    assert step.step_id == 1


@pytest.mark.parametrize(("line", "words"), [
    ("$1 = echo(a=$1)", "uses its own output"),
    ("$1 = echo(a=$2)", "not a step written before"),
    ("$1 = echo(a=1, a=2)", "given twice"),
    ("$1 = echo(a=NaN)", "cannot read the value"),
    ("$1 = echo(a=Infinity)", "cannot read the value"),
    ("$1 = echo(a=1) trailing", "unexpected text"),
    ("$1 = echo(a=1", "expected ',' or ')'"),
    ("$1 echo(a=1)", ""),  # no '=': the model's own text, not a step
    ("$0 = echo()", "write a step as"),
    ("$1 = echo(a=$1.x..y)", "uses its own output"),
    ("$1 = echo(a=" + "[" * 5000 + ")", "cannot read the value"),
])
def test_bad_lines_become_problems(line: str, words: str) -> None:
    lines = parse_plan(line)
    if not words:
        assert lines == []
        return
    [problem] = lines
    assert isinstance(problem, PlanProblem)
    assert words in problem.error


def test_a_bad_path_in_a_reference_is_a_problem() -> None:
    [_, problem] = parse_plan("$1 = a()\n$2 = b(x=$1.a[99999999])")
    assert isinstance(problem, PlanProblem)


def test_a_repeated_step_number_is_a_problem() -> None:
    [_, problem] = parse_plan("$1 = a()\n$1 = b()")
    assert isinstance(problem, PlanProblem)
    assert "written twice" in problem.error


def test_plans_are_bounded_in_steps_and_line_length() -> None:
    many = "\n".join(f"${i} = echo(i={i})" for i in range(1, MAX_STEPS + 3))
    lines = parse_plan(many)
    assert sum(isinstance(x, PlanStep) for x in lines) == MAX_STEPS
    assert all("at most" in x.error for x in lines if isinstance(x, PlanProblem))
    stream = PlanStream()
    long_line = '$1 = echo(a="' + "x" * (MAX_LINE_CHARS * 3)
    out = [*stream.feed(long_line[:MAX_LINE_CHARS + 10]), *stream.feed(long_line[MAX_LINE_CHARS:])]
    out += stream.feed('")\n$2 = echo(b=1)\n')
    assert isinstance(out[0], PlanProblem)
    assert "over" in out[0].error
    assert isinstance(out[1], PlanStep)
    assert out[1].step_id == 2
    assert len(out) == 2


def test_text_without_steps_is_an_answer() -> None:
    assert parse_plan("Kafka is a log.\nIt costs $5 = cheap.\n") == []
