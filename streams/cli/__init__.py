"""The ``toolformer`` command line (typer, rich)."""

from async_toolformer.streams.cli.main import app, main

__all__ = ["app", "main"]
