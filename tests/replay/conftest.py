"""The pipeline tests' in-process workers, reused: replay runs against what they recorded."""

from tests.pipeline.conftest import pipeline_factory

__all__ = ["pipeline_factory"]
