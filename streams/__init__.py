"""Faust app, topics, settings, Redis pieces, dev stack, client and CLI."""
