"""``toolformer speculation train`` rebuilds the models from the log and writes them as JSON."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from typer.testing import CliRunner

from async_toolformer.agents.speculation import PredictorSettings, TransitionPredictor, dump, load
from async_toolformer.streams.cli.main import app
from async_toolformer.streams.devtools.bench.speculation_offline import train
from async_toolformer.streams.devtools.bench.speculation_workload import generate
from async_toolformer.streams.kafka.topics import TopicCatalogue, ensure_topics
from tests.speculation.test_log import _records

pytestmark = pytest.mark.connected


async def test_train_writes_the_model_online_learning_builds(
        kafka_bootstrap: str, unique_prefix: str, tmp_path: Path) -> None:
    sessions = generate(41, 25)
    topics = TopicCatalogue(unique_prefix)
    await ensure_topics(kafka_bootstrap, topics, partitions=2)
    calls, results = _records(sessions)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for topic, records in ((topics.calls, calls), (topics.results, results)):
            for key, value in records:
                await producer.send(topic, value, key=key.encode())
        await producer.flush()
    finally:
        await producer.stop()
    out = tmp_path / "models.json"
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "TOOLFORMER_TOPIC_PREFIX": unique_prefix}

    done = await asyncio.to_thread(CliRunner().invoke, app, [
        "speculation", "train", "--out", str(out), "--json"], env=env)

    assert done.exit_code == 0, done.output
    summary = json.loads(done.output)
    assert summary["sessions"] == len(sessions)
    assert summary["calls"] == len(calls)
    assert summary["tenants"] == 1
    online = TransitionPredictor()
    train(online, sessions)
    stored = json.loads(out.read_text())
    model, _ = load(stored["bench"], PredictorSettings())
    assert dump(model) == dump(online.model("bench"))
    assert summary["model_bytes"] == out.stat().st_size


async def test_train_on_an_empty_log_learns_nothing(kafka_bootstrap: str,
                                                     unique_prefix: str) -> None:
    await ensure_topics(kafka_bootstrap, TopicCatalogue(unique_prefix), partitions=1)
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "TOOLFORMER_TOPIC_PREFIX": unique_prefix}
    done = await asyncio.to_thread(CliRunner().invoke, app, ["speculation", "train", "--json"],
                                   env=env)
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["sessions"] == 0
