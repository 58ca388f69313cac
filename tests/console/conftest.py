"""The console tests drive real workers, started the way the pipeline tests start them."""

from ..pipeline.conftest import pipeline_factory

__all__ = ["pipeline_factory"]
