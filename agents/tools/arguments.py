"""Arguments from a function signature: one pydantic model validates calls and
yields the JSON schema the LLM sees, so the two can never disagree."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from ..exceptions import InvalidArgumentsError, ToolDefinitionError


def arguments_model(fn: Callable[..., Any], name: str) -> type[BaseModel]:
    """Build the model of ``fn``'s parameters.

    Every parameter needs a type annotation. ``**kwargs`` makes the model accept
    extra fields; ``*args`` and positional-only parameters cannot be named in a
    JSON object, so they are refused.
    """
    signature = inspect.signature(fn)
    hints = get_type_hints(fn, include_extras=True)  # keeps Annotated[..., Field(...)] bounds
    fields: dict[str, Any] = {}
    extra = "forbid"
    for param in signature.parameters.values():
        if param.kind is param.VAR_KEYWORD:
            extra = "allow"
            continue
        if param.kind in (param.VAR_POSITIONAL, param.POSITIONAL_ONLY):
            raise ToolDefinitionError(
                f"tool {name!r}: parameter {param.name!r} cannot be passed by name; "
                "tools take keyword arguments only"
            )
        if param.name not in hints:
            raise ToolDefinitionError(
                f"tool {name!r}: parameter {param.name!r} needs a type annotation"
            )
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hints[param.name], default)
    config = ConfigDict(extra=extra, arbitrary_types_allowed=False)  # type: ignore[typeddict-item]
    model_name = "".join(part.capitalize() for part in name.replace("-", "_").split("_")) + "Args"
    return create_model(model_name, __config__=config, **fields)


def validate_arguments(model: type[BaseModel], arguments: dict[str, Any]) -> dict[str, Any]:
    """Validate and coerce ``arguments``; :class:`InvalidArgumentsError` says what is wrong."""
    try:
        parsed = model.model_validate(arguments)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}"
            for err in exc.errors(include_url=False)[:5]
        )
        raise InvalidArgumentsError(problems) from exc
    values = parsed.__dict__.copy()  # the fields; BaseModel.__iter__ is a slow generator
    if parsed.model_extra:
        values.update(parsed.model_extra)
    return values


def parameters_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema of the parameters, in the form function-calling APIs expect."""
    schema = model.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    schema.setdefault("properties", {})
    if model.model_config.get("extra") == "forbid":
        schema["additionalProperties"] = False
    return schema
