"""The worker's Redis over TLS with an ACL user: it connects, and a wrong password or an
untrusted CA stops it with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from async_toolformer.streams.exceptions import ConfigurationError
from async_toolformer.streams.redis.parts import open_redis_parts
from async_toolformer.streams.worker.settings import Settings

from .conftest import TlsFiles, TlsRedis

pytestmark = pytest.mark.connected


def _settings(redis: TlsRedis, ca: Path, password: str | None = None) -> Settings:
    return Settings.model_validate({
        "kafka_bootstrap_servers": "127.0.0.1:1", "redis_url": redis.url,
        "REDIS_USERNAME": redis.username, "REDIS_PASSWORD": password or redis.password,
        "REDIS_SSL_CA_CERTS": str(ca)})


async def test_the_worker_redis_client_connects_over_tls_as_the_acl_user(
        tls_redis: TlsRedis, tls_files: TlsFiles) -> None:
    parts = await open_redis_parts(_settings(tls_redis, tls_files.ca), tls_redis.url)
    try:
        assert parts.redis is not None
        assert parts.ledger is not None
        assert await parts.redis.acl_whoami() == tls_redis.username
        await parts.redis.set("tls-probe", b"1")
        assert await parts.redis.get("tls-probe") == b"1"
        assert parts.redis.connection_pool.connection_kwargs["ssl_ca_certs"] == str(tls_files.ca)
    finally:
        await parts.close()


async def test_a_wrong_password_is_one_clear_error(tls_redis: TlsRedis,
                                                    tls_files: TlsFiles) -> None:
    wrong = "not-the-password-3x"
    with pytest.raises(ConfigurationError) as raised:
        await open_redis_parts(_settings(tls_redis, tls_files.ca, wrong), tls_redis.url)
    message = str(raised.value)
    assert "refused the credentials" in message
    assert "REDIS_PASSWORD" in message
    assert wrong not in message
    assert "\n" not in message


async def test_an_untrusted_ca_is_one_clear_error(tls_redis: TlsRedis,
                                                   tls_files: TlsFiles) -> None:
    with pytest.raises(ConfigurationError) as raised:
        await open_redis_parts(_settings(tls_redis, tls_files.other_ca), tls_redis.url)
    message = str(raised.value)
    assert "certificate that is not trusted" in message
    assert "REDIS_SSL_CA_CERTS" in message
    assert "\n" not in message


def test_the_cli_says_a_wrong_password_in_one_line(tls_redis: TlsRedis,
                                                   tls_files: TlsFiles) -> None:
    wrong = "wrong-pw-for-the-cli-9"
    port = tls_redis.url.rsplit(":", 1)[1].split("/")[0]
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
           "REDIS_URL": tls_redis.url.replace("rediss://", f"rediss://:{wrong}@"),
           "REDIS_USERNAME": tls_redis.username, "REDIS_SSL_CA_CERTS": str(tls_files.ca),
           "TOOLFORMER_METRICS_PORT": "off", "COLUMNS": "400"}  # rich wraps at the width
    done = subprocess.run([sys.executable, "-m", "async_toolformer.streams.cli", "worker"],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: Redis at ")
    assert "refused the credentials" in lines[0]
    assert f"rediss://:***@127.0.0.1:{port}/0" in lines[0]
    assert wrong not in done.stderr + done.stdout
