"""Settings, read from the environment (prefix ``TOOLFORMER_``) and CLI flags.

``KAFKA_BOOTSTRAP_SERVERS`` and ``REDIS_URL`` are read without the prefix, as
every Kafka and Redis tool expects them; so are the connection-security settings
(``KAFKA_SECURITY_PROTOCOL``, ``REDIS_PASSWORD``...) of :class:`SecuritySettings`.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import SettingsConfigDict

from async_toolformer.streams.worker.security_settings import SecuritySettings


def _default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Settings(SecuritySettings):
    """Everything a worker, the client and the CLI can be told."""

    model_config = SettingsConfigDict(env_prefix="TOOLFORMER_", extra="ignore",
                                      populate_by_name=True)

    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS",
                                      "TOOLFORMER_KAFKA_BOOTSTRAP_SERVERS"),
        description="Comma-separated host:port list of the Kafka brokers.",
    )
    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("REDIS_URL", "TOOLFORMER_REDIS_URL"),
        description="redis://host:port/db (rediss:// for TLS) of the Redis that holds limits "
                    "and the ledger.",
    )
    redis_socket_timeout_s: float = Field(
        default=5.0, gt=0, description="How long a Redis command may wait for its reply.")
    redis_connect_timeout_s: float = Field(
        default=2.0, gt=0, description="How long connecting to Redis may take.")
    topic_prefix: str = Field(default="toolformer.", description="Prefix of every topic name.")
    partitions: int = Field(default=8, ge=1, description="Partitions of every consumed topic.")
    replication_factor: int = Field(default=1, ge=1, description="Of topics the worker creates.")
    group_id: str = Field(default="toolformer-executor", description="Consumer group of workers.")
    worker_id: str = Field(default_factory=_default_worker_id, description="Shown in results.")
    max_in_flight: int = Field(default=10_000, ge=1, description="Worker-wide cap on calls.")
    tool_concurrency: dict[str, int] = Field(
        default_factory=dict, description='Per-tool caps as JSON, e.g. {"search": 50}.'
    )
    max_payload_bytes: int = Field(default=1_048_576, ge=256, description="Largest call accepted.")
    max_json_depth: int = Field(
        default=64, ge=2, le=200,
        description="Deepest nesting of a call's arguments and of a tool's output.")
    max_argument_items: int = Field(
        default=100_000, ge=1, description="Most values (at every level) in a call's arguments.")
    max_result_bytes: int = Field(
        default=1_000_000, ge=4096,
        description="Largest result; a bigger one ends in OutputTooLarge. Keep it under the "
                    "producer's 1 MiB max_request_size and the broker's message.max.bytes.")
    default_timeout_s: float = Field(default=30.0, gt=0, description="Timeout of tools without.")
    max_timeout_s: float = Field(
        default=300.0, gt=0, allow_inf_nan=False,
        description="Longest timeout of any call: a call's or tool's own is clamped to it.")
    session_deadline_s: float = Field(
        default=900.0, gt=0, allow_inf_nan=False,
        description="Deadline of a session that sets none (session_deadline_s), so a session "
                    "whose model or tools never answer still ends.")
    fetch_max_wait_ms: int = Field(
        default=5, ge=0, description="How long a fetch waits for data (Faust hard-codes 1500)."
    )
    max_poll_records: int = Field(default=2_000, ge=1, description="Records per fetch.")
    commit_interval_s: float = Field(default=0.2, gt=0, description="How often offsets commit.")
    session_timeout_s: float = Field(default=6.0, gt=0, description="Consumer group session.")
    rebalance_timeout_s: float = Field(default=6.0, gt=0, description="Group rebalance wait.")
    heartbeat_interval_s: float = Field(default=1.0, gt=0, description="Group heartbeat.")
    metrics_port: int | None = Field(
        default=9464, ge=0, description="Prometheus port; 0 picks a free one; off disables."
    )
    max_loop_lag_s: float = Field(
        default=5.0, gt=0, allow_inf_nan=False,
        description="Event loop lag past which /healthz answers 503 (the liveness probe).")
    metrics_host: str = Field(
        default="127.0.0.1", description="Address /metrics binds; 0.0.0.0 in containers."
    )
    tools: list[str] = Field(
        default_factory=list, description="Modules of user tools to import, like faust -A."
    )
    scorers: list[str] = Field(
        default_factory=list,
        description="Scorers sessions may name, as module:function, imported when the worker "
                    "starts; sessions never import code of their own choosing.")
    limits_file: Path | None = Field(default=None, description="TOML file of rate limits.")
    policy_file: Path | None = Field(
        default=None, description="TOML file of tenant policy (what each tenant may call and "
        "ask a model for); unset: every tenant may do everything.")
    ledger: bool = Field(default=True, description="Guard calls with the execution ledger.")
    ledger_namespace: str = Field(default="default", description="A new one re-executes all.")
    lease_ms: int = Field(default=10_000, ge=100, description="Ledger lease, renewed while run.")
    shutdown_timeout_s: float = Field(
        default=30.0, gt=0, le=3600, allow_inf_nan=False,
        description="After SIGTERM or Ctrl-C, how long the worker may take to stop (running "
                    "calls get 10 s of it) before it exits anyway: a broker that is gone "
                    "would hold the final commit and flush forever. A second signal exits "
                    "at once. Uncommitted calls are redelivered.")
    ledger_linger_ms: float = Field(
        default=2.0, ge=0, description="Under load, how long a ledger request waits for others.")
    result_retention_s: int = Field(default=86_400, ge=1, description="How long results stay.")
    result_cache: bool = Field(
        default=True, description="Answer calls of tools that declare cache_ttl_s from the "
        "shared result cache in Redis (needs the ledger).")
    result_cache_flight_ms: int = Field(
        default=30_000, ge=100, le=3_600_000,
        description="How long identical calls wait for one run of a caching tool before "
                    "running it themselves; cover the tool's usual run time.")
    gc_tuning: bool = Field(
        default=True,
        description="Once the worker is up, freeze its start-up heap out of the garbage "
                    "collector and raise the young threshold; off where the host tunes the GC.")
    gc_young_threshold: int | None = Field(
        default=None, ge=0,
        description="Net young objects between GC passes, start-up heap frozen; 0: Python's; "
                    "unset: 100 per call of max_in_flight, 1,000,000 at least.")

    speculation: bool = Field(
        default=False,
        description="Run the predicted next calls of sessions early (read-only tools with a "
                    "cache_ttl_s only), into the result cache, at low priority.")
    speculation_share: float = Field(
        default=0.2, gt=0, le=1, allow_inf_nan=False,
        description="Of max_in_flight and of each tool's cap, what speculative runs may hold.")
    speculation_max_in_flight: int = Field(
        default=64, ge=1, le=10_000, description="Speculative runs at once in a worker.")
    speculation_precision_target: float = Field(
        default=0.7, gt=0, le=1, allow_inf_nan=False,
        description="The predictor raises its threshold to keep its precision at this.")
    speculation_rate_reserve: float = Field(
        default=0.5, ge=0, lt=1, allow_inf_nan=False,
        description="A speculative call passes a rate limit only if this fraction of the "
                    "limit's capacity stays free for real calls after it.")

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _metrics_off(cls, value: object) -> object:
        return None if isinstance(value, str) and value.lower() in {"", "off", "none"} else value

    def require_services(self) -> tuple[str, str | None]:
        """The Kafka bootstrap servers (required) and Redis URL, or a clear error."""
        from async_toolformer.streams.exceptions import ConfigurationError

        if not self.kafka_bootstrap_servers:
            raise ConfigurationError(
                "KAFKA_BOOTSTRAP_SERVERS is not set. Point it at your Kafka brokers "
                "(e.g. export KAFKA_BOOTSTRAP_SERVERS=localhost:9092), or run `toolformer dev`, "
                "which starts an embedded broker and Redis and a worker with them."
            )
        return self.kafka_bootstrap_servers, self.redis_url
