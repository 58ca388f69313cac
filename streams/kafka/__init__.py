"""Kafka adapters: the Faust app and its tap, topics, the result publisher, the session journal."""
