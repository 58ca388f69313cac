"""Tools for development, tests and measurement; nothing in the runtime path imports them.

``stack`` (the embedded broker and Redis), ``fakellm`` (the scripted model server),
``bench`` (the ``toolformer bench`` commands) and ``demo``.
"""
