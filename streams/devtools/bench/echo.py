"""The floor the pipeline is compared with: plain aiokafka consume-then-produce.

Run as its own process (``python -m async_toolformer.streams.devtools.bench.echo SRC DST``)
so that, like a worker, it has a core to itself while the benchmark drives it.
"""

from __future__ import annotations

import asyncio
import os
import sys

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from async_toolformer.streams.kafka.security import PLAINTEXT, KafkaSecurity


async def serve_echo(bootstrap: str, source: str, target: str, group: str, *,
                     security: KafkaSecurity = PLAINTEXT) -> None:
    """Copy every record of ``source`` to ``target``, keyed the same, until killed."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2, acks="all",
                                **security.client_options())
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=group,
                                auto_offset_reset="earliest", fetch_max_wait_ms=5,
                                max_poll_records=2000, **security.client_options())
    await producer.start()
    await consumer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=100)
            deliveries = [
                await producer.send(target, record.value, key=record.key)
                for records in batches.values() for record in records
            ]
            if deliveries:
                await asyncio.gather(*deliveries)
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


if __name__ == "__main__":
    _source, _target = sys.argv[1], sys.argv[2]
    from async_toolformer.streams.worker.settings import Settings

    asyncio.run(serve_echo(os.environ["KAFKA_BOOTSTRAP_SERVERS"], _source, _target,
                           f"echo-{_source}", security=KafkaSecurity.from_settings(Settings())))
