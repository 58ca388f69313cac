"""JSON Schema of every event, so that clients in any language can publish and read."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from .calls import ToolCallCompleted, ToolCallRequested
from .cancellations import BranchCancelled, SessionCancelled
from .dead_letters import DeadLetter
from .sessions import SESSION_EVENTS

EXPORTED_EVENTS: tuple[type[BaseModel], ...] = (
    ToolCallRequested,
    ToolCallCompleted,
    BranchCancelled,
    SessionCancelled,
    DeadLetter,
    *SESSION_EVENTS,
)


def json_schemas() -> dict[str, dict[str, Any]]:
    """Map each event's name to its JSON Schema (draft 2020-12), as it is written."""
    schemas: dict[str, dict[str, Any]] = {}
    for model in EXPORTED_EVENTS:
        schema = model.model_json_schema(mode="serialization")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"{model.__name__}.schema.json"
        schemas[model.__name__] = schema
    return schemas
