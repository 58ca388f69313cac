"""Tools: the ``@tool`` decorator, the registry, retry policies, built-ins."""

from .loader import load_tools
from .registry import ToolRegistry, ToolSpec, default_registry, tool
from .retry import NO_RETRY, RetryPolicy

__all__ = ["NO_RETRY", "RetryPolicy", "ToolRegistry", "ToolSpec", "default_registry",
           "load_tools", "tool"]
