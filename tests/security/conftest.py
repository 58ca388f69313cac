"""Secured services for the security tests: certificates, a TLS Redis with an ACL user,
and the embedded broker behind a TLS terminator.

Certificates come from the ``openssl`` command (the ``cryptography`` package is
not a dependency): a CA, a server certificate for 127.0.0.1 and localhost, a
client certificate, and a second CA nobody trusts.

The embedded broker (Tansu 0.6.0) cannot serve TLS itself (its ``--cert`` and
``--key`` refuse each other, and a listener given ``--cert`` still speaks
plaintext), so stunnel terminates TLS in front of it, requiring a client
certificate. A broker tells clients where to connect in its metadata, so this
broker listens in plaintext on one port and advertises stunnel's port: every
connection a client makes after bootstrapping goes through TLS too.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from async_toolformer.streams.devtools.stack._process import ManagedProcess
from async_toolformer.streams.devtools.stack.broker import resolve_broker_binary
from async_toolformer.streams.devtools.stack.ports import LOOPBACK, free_port
from async_toolformer.streams.devtools.stack.probes import kafka_cluster_id
from async_toolformer.streams.kafka.security import KafkaSecurity

REDIS_USER = "toolformer-worker"
REDIS_PASSWORD = "redis-acl-pw-7Hq2"  # a test's own throwaway server


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # signs nothing we serve: a client trusting only it must refuse us


@dataclass(frozen=True)
class TlsRedis:
    url: str  # rediss://127.0.0.1:PORT/0, no credentials in it
    username: str
    password: str


@dataclass(frozen=True)
class TlsBroker:
    bootstrap: str  # stunnel's TLS port, which the broker advertises
    security: KafkaSecurity  # TLS, our CA, the client certificate


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def _issue(directory: Path, name: str, subject: str, *, ca: Path, ca_key: Path,
           extensions: str | None) -> tuple[Path, Path]:
    key, csr, cert = (directory / f"{name}.key", directory / f"{name}.csr",
                      directory / f"{name}.pem")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
             "-subj", subject)
    args = ["x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
            "-CAcreateserial", "-out", str(cert), "-days", "2"]
    if extensions is not None:
        ext = directory / f"{name}.ext"
        ext.write_text(extensions)
        args += ["-extfile", str(ext)]
    _openssl(*args)
    return cert, key


def _self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
             str(cert), "-days", "2", "-subj", f"/CN={name}")
    return cert, key


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make test certificates: apt-get install openssl")
    directory = tmp_path_factory.mktemp("tls")
    ca, ca_key = _self_signed(directory, "test-ca")
    other_ca, _ = _self_signed(directory, "other-ca")
    server_cert, server_key = _issue(
        directory, "server", "/CN=localhost", ca=ca, ca_key=ca_key,
        extensions="subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    client_cert, client_key = _issue(directory, "client", "/CN=toolformer-client", ca=ca,
                                     ca_key=ca_key, extensions="extendedKeyUsage=clientAuth\n")
    return TlsFiles(ca, ca_key, server_cert, server_key, client_cert, client_key, other_ca)


@pytest_asyncio.fixture(loop_scope="session")
async def tls_redis(tls_files: TlsFiles, tmp_path_factory: pytest.TempPathFactory
                    ) -> AsyncIterator[TlsRedis]:
    """A redis-server on TLS only (``--port 0``) whose default user is off; one ACL user."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no redis-server on PATH: apt-get install redis-server")
    port = free_port()
    process = ManagedProcess([
        binary, "--port", "0", "--tls-port", str(port), "--bind", LOOPBACK,
        "--tls-cert-file", str(tls_files.server_cert),
        "--tls-key-file", str(tls_files.server_key),
        "--tls-ca-cert-file", str(tls_files.ca), "--tls-auth-clients", "no",
        "--save", "", "--appendonly", "no", "--dir", str(tmp_path_factory.mktemp("redis")),
        "--user", "default", "off",
        "--user", REDIS_USER, "on", f">{REDIS_PASSWORD}", "~*", "&*", "+@all",
    ], name="redis-tls")
    url = f"rediss://{LOOPBACK}:{port}/0"
    try:
        client = Redis.from_url(url, username=REDIS_USER, password=REDIS_PASSWORD,
                                ssl_ca_certs=str(tls_files.ca), socket_timeout=1.0)
        deadline = time.monotonic() + 20
        while True:
            if process.returncode is not None:
                pytest.fail(f"redis-server with TLS exited: {process.output_tail()}")
            try:
                await client.ping()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        await client.aclose()
        yield TlsRedis(url, REDIS_USER, REDIS_PASSWORD)
    finally:
        await process.stop()


def stunnel_binary() -> str:
    binary = shutil.which("stunnel4") or shutil.which("stunnel")
    if binary is None:
        pytest.skip("stunnel is not installed, so the broker cannot be put behind TLS: "
                    "apt-get install stunnel4")
    return binary


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def tls_broker(tls_files: TlsFiles, tmp_path_factory: pytest.TempPathFactory
                     ) -> AsyncIterator[TlsBroker]:
    """The embedded broker behind stunnel: TLS with a client certificate required."""
    stunnel = stunnel_binary()
    plain, tls = free_port(), free_port()
    directory = tmp_path_factory.mktemp("stunnel")
    config = directory / "stunnel.conf"
    config.write_text(
        "foreground = yes\n"
        "pid =\n"
        "debug = 4\n"
        "[kafka]\n"
        f"accept = {LOOPBACK}:{tls}\n"
        f"connect = {LOOPBACK}:{plain}\n"
        f"cert = {tls_files.server_cert}\n"
        f"key = {tls_files.server_key}\n"
        f"CAfile = {tls_files.ca}\n"
        "verifyChain = yes\n"
        "requireCert = yes\n")
    cluster_id = f"toolformer-tls-{uuid.uuid4().hex[:12]}"
    broker = ManagedProcess([
        resolve_broker_binary(), "broker",
        "--listener-url", f"tcp://{LOOPBACK}:{plain}",
        "--advertised-listener-url", f"tcp://{LOOPBACK}:{tls}",
        "--storage-engine", "memory://tansu/", "--cluster-id", cluster_id,
    ], name="tansu-tls")
    terminator = ManagedProcess([stunnel, str(config)], name="stunnel")
    security = KafkaSecurity(protocol="SSL", cafile=tls_files.ca,
                             certfile=tls_files.client_cert, keyfile=tls_files.client_key)
    bootstrap = f"{LOOPBACK}:{tls}"
    try:
        deadline = time.monotonic() + 30
        while await kafka_cluster_id(bootstrap, 1.0, security=security) != cluster_id:
            for process in (broker, terminator):
                if process.returncode is not None:
                    pytest.fail(f"{process.output_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the broker behind stunnel did not answer on {bootstrap}: "
                            f"{terminator.output_tail()}")
            await asyncio.sleep(0.1)
        yield TlsBroker(bootstrap, security)
    finally:
        await terminator.stop()
        await broker.stop()
