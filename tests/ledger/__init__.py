"""Tests of the execution ledger (streams/ledger): the model, the Lua scripts, the keeper."""
