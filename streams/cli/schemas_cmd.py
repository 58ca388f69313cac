"""``toolformer schemas export DIR``: the JSON Schema of every event, for non-Python clients."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from async_toolformer.schemas import json_schemas
from async_toolformer.streams.cli._runtime import console, fail

schemas_app = typer.Typer(help="JSON Schemas of the events on the topics.", no_args_is_help=True)


@schemas_app.command("export")
def export(directory: Annotated[Path, typer.Argument(help="Folder to write into.")]) -> None:
    """Write one NAME.schema.json per event into DIRECTORY."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, schema in json_schemas().items():
            path = directory / f"{name}.schema.json"
            path.write_bytes(orjson.dumps(schema, option=orjson.OPT_INDENT_2) + b"\n")
            console.print(f"wrote {path}")
    except OSError as exc:
        fail(f"cannot write schemas to {directory}: {exc.strerror or exc}")
