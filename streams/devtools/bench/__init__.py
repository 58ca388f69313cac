"""The ``toolformer bench`` benchmarks: each measures its baseline in the same run.

``pipeline`` (echo and sleep calls against a plain aiokafka echo), ``ratelimit``
(Lua decisions against a plain GET, contention, limits' cost to the pipeline),
``replay`` (replay rate, ledger overhead, two workers against one) and ``session``
(agent workloads with a scripted model against the same calls one after another).
"""
