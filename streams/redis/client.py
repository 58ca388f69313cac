"""The worker's Redis client: redis-py asyncio, with commands packed by hiredis.

redis-py's asyncio connection packs a command in Python and copies its growing
buffer once per argument. The ledger and the limiter send a batch as one
``EVALSHA`` with a few arguments per call, so packing cost more of the
worker's time than the scripts themselves. hiredis, already installed for its
reply parser, packs the same bytes in C (str as UTF-8, as redis-py does by
default). Anything hiredis will not take (a bool, None), a two-word command
name, or a client configured with another encoding goes through redis-py's own
packer, so its bytes and errors stay redis-py's.

Socket timeouts are always set (redis-py sets none): a Redis that stops
answering without closing the connection would otherwise hang a ledger call,
and the worker's partition with it, until the kernel gives up.

:func:`redis_security_options` turns the settings' ACL user, password and CA
(``REDIS_USERNAME``, ``REDIS_PASSWORD``/``_FILE``, ``REDIS_SSL_CA_CERTS``) into
client options; TLS itself comes with a ``rediss://`` URL. Every client built
from settings takes them.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import (
    AuthenticationError,
    AuthenticationWrongNumberOfArgsError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError

if TYPE_CHECKING:
    from async_toolformer.streams.worker.security_settings import SecuritySettings

__all__ = ["CONNECT_TIMEOUT_S", "SOCKET_TIMEOUT_S", "check_redis_access", "redis_client",
           "redis_security_options"]

SOCKET_TIMEOUT_S = 5.0  # a command's reply; the ledger's batches take milliseconds
CONNECT_TIMEOUT_S = 2.0


class _HiredisPacking:
    """Mixin over a redis-py asyncio connection class."""

    encoder: Any

    def pack_command(self, *args: Any) -> list[bytes]:
        command, encoder = args[0], self.encoder
        if (isinstance(command, str) and " " not in command and encoder.encoding == "utf-8"
                and encoder.encoding_errors == "strict"):
            try:
                return [hiredis.pack_command(args)]
            except TypeError:
                pass
        packed: list[bytes] = super().pack_command(*args)  # type: ignore[misc]
        return packed


class _PackedConnection(_HiredisPacking, Connection):
    pass


class _PackedSSLConnection(_HiredisPacking, SSLConnection):
    pass


class _PackedUnixConnection(_HiredisPacking, UnixDomainSocketConnection):
    pass


_PACKED: dict[type[Any], type[Any]] = {
    Connection: _PackedConnection,
    SSLConnection: _PackedSSLConnection,
    UnixDomainSocketConnection: _PackedUnixConnection,
}


def redis_client(url: str, **options: Any) -> Redis:
    """``Redis.from_url(url, **options)`` whose connections pack commands with hiredis.

    ``socket_timeout`` and ``socket_connect_timeout`` default to
    :data:`SOCKET_TIMEOUT_S` and :data:`CONNECT_TIMEOUT_S` (the URL's own win).
    """
    options.setdefault("socket_timeout", SOCKET_TIMEOUT_S)
    options.setdefault("socket_connect_timeout", CONNECT_TIMEOUT_S)
    client = Redis.from_url(url, **options)
    pool = client.connection_pool
    pool.connection_class = _PACKED.get(pool.connection_class, pool.connection_class)
    return client


def redis_security_options(settings: SecuritySettings) -> dict[str, Any]:
    """``redis_client`` options of the settings' ACL user, password and CA bundle.

    redis-py verifies a ``rediss://`` server's certificate and host name; the CA
    bundle replaces the system's CAs for that. Settings refuse a password both
    here and in ``REDIS_URL``, where redis-py would let the URL's win.
    """
    options: dict[str, Any] = {}
    if settings.redis_username:
        options["username"] = settings.redis_username
    if settings.redis_password is not None:
        options["password"] = settings.redis_password.get_secret_value()
    if settings.redis_ssl_ca_certs is not None:
        options["ssl_ca_certs"] = str(settings.redis_ssl_ca_certs)
    return options


async def check_redis_access(client: Redis, url: str) -> None:
    """PING once, so refused credentials or an untrusted certificate stop a worker at start.

    Each is a :class:`ConfigurationError` of one line naming what to set (the URL
    shown without its password). A Redis that does not answer is left alone: the
    ledger and the limiter have their own answer to an outage.
    """
    from async_toolformer.streams.exceptions import ConfigurationError
    from async_toolformer.streams.worker.secret_values import redact_url

    try:
        await client.ping()
    except (AuthenticationError, AuthenticationWrongNumberOfArgsError) as exc:
        raise ConfigurationError(
            f"Redis at {redact_url(url)} refused the credentials ({exc}); check REDIS_USERNAME "
            "and REDIS_PASSWORD (or REDIS_PASSWORD_FILE)") from None
    except ResponseError as exc:
        if not str(exc).startswith(("NOAUTH", "WRONGPASS", "NOPERM")):
            raise
        raise ConfigurationError(
            f"Redis at {redact_url(url)} refused access ({exc}); check REDIS_USERNAME and "
            "REDIS_PASSWORD (or REDIS_PASSWORD_FILE) and the user's ACL") from None
    except (RedisConnectionError, OSError) as exc:
        if "CERTIFICATE_VERIFY_FAILED" not in str(exc) and not _untrusted(exc):
            return
        raise ConfigurationError(
            f"Redis at {redact_url(url)} presented a certificate that is not trusted; set "
            "REDIS_SSL_CA_CERTS to the CA bundle that signs it") from None


def _untrusted(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
