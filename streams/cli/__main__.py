"""``python -m async_toolformer.streams.cli``: the same as the ``toolformer`` script."""

from async_toolformer.streams.cli.main import main

main()
