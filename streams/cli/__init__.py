"""The ``toolformer`` command line (typer, rich)."""

from .main import app, main

__all__ = ["app", "main"]
