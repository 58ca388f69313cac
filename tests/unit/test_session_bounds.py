"""A session's deadlines are finite and bounded: a producer cannot keep a session open for good."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from async_toolformer.schemas import SessionOptions


@pytest.mark.parametrize("field", ["session_deadline_s", "branch_deadline_s"])
@pytest.mark.parametrize("value", ["inf", "nan", "1e400", 1e300, 0, -1])
def test_an_unbounded_deadline_is_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        SessionOptions.model_validate({field: value})


@pytest.mark.parametrize("field", ["session_deadline_s", "branch_deadline_s"])
def test_a_deadline_of_a_week_is_accepted(field: str) -> None:
    options = SessionOptions.model_validate({field: 7 * 24 * 3600})
    assert getattr(options, field) == 7 * 24 * 3600
