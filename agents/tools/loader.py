"""Loading user tools from modules named on the command line (``--tools pkg.mod``)."""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from ..exceptions import ToolLoadError
from .registry import ToolRegistry, default_registry

BUILTIN_MODULE = "async_toolformer.agents.tools.builtin"


def load_tools(modules: Iterable[str], *, builtins: bool = True) -> ToolRegistry:
    """Import the modules so their ``@tool`` functions register; return the registry."""
    names = [BUILTIN_MODULE, *modules] if builtins else list(modules)
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ToolLoadError(
                f"cannot import tools module {name!r}: {exc}. Pass an importable module "
                "path (pkg.module) and make sure its folder is on PYTHONPATH."
            ) from exc
    return default_registry
