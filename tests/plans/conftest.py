"""The pipeline's workers (real broker and Redis) for the dependent-call tests."""

from tests.pipeline.conftest import pipeline, pipeline_factory

__all__ = ["pipeline", "pipeline_factory"]
