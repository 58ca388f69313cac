"""``python -m async_toolformer.streams.cli``: the same as the ``toolformer`` script."""

from .main import main

main()
