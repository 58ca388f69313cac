"""Speculation: predict a session's next tool calls so read-only ones can start early.

Pure logic (no I/O): the worker's speculation runtime feeds a :class:`Predictor` the
session's calls and results and asks it what comes next. :class:`TransitionPredictor`
is the first predictor; :mod:`.snapshot` stores its per-tenant model as JSON.
"""

from .protocol import NullPredictor, Prediction, Predictor, PredictorSettings
from .snapshot import dump, load
from .transition import TransitionPredictor

__all__ = ["NullPredictor", "Prediction", "Predictor", "PredictorSettings",
           "TransitionPredictor", "dump", "load"]
