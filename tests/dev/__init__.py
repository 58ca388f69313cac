"""Tests of the embedded dev stack (streams/dev) and the root service fixtures."""
