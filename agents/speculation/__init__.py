"""Speculation: predict a session's next tool calls so read-only ones can start early.

Pure logic (no I/O): the worker's speculation runtime feeds a :class:`Predictor` the
session's calls and results and asks it what comes next.
"""

from .protocol import NullPredictor, Prediction, Predictor, PredictorSettings

__all__ = ["NullPredictor", "Prediction", "Predictor", "PredictorSettings"]
