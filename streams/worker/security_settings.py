"""How to reach Kafka and Redis securely: TLS, certificates, SASL, ACL users, passwords.

Read without the ``TOOLFORMER_`` prefix, under the names Kafka and Redis tools
use (``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SASL_PASSWORD``, ``REDIS_PASSWORD``...).
Each password may instead come from a file, ``KAFKA_SASL_PASSWORD_FILE`` and
``REDIS_PASSWORD_FILE``, as Kubernetes mounts Secrets. Passwords are held as
:class:`~pydantic.SecretStr`: a repr, a dump or a log line shows asterisks.

A combination that cannot work (a SASL protocol without a mechanism, a
certificate over plaintext, a CA for a ``redis://`` URL) is refused when the
settings are read, with a :class:`ConfigurationError` naming the variables and
never a secret. Turning these settings into client options is the job of
``streams.kafka.security`` and ``streams.redis.client``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from async_toolformer.streams.exceptions import ConfigurationError
from async_toolformer.streams.worker.secret_values import secret_from_file

__all__ = ["KafkaSecurityProtocol", "SaslMechanism", "SecuritySettings"]

KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class SecuritySettings(BaseSettings):
    """The connection-security part of the settings (a base of ``Settings``)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    kafka_security_protocol: KafkaSecurityProtocol = Field(
        default="PLAINTEXT",
        validation_alias=AliasChoices("KAFKA_SECURITY_PROTOCOL",
                                      "TOOLFORMER_KAFKA_SECURITY_PROTOCOL"),
        description="PLAINTEXT, SSL (TLS), SASL_PLAINTEXT or SASL_SSL (SASL over TLS).")
    kafka_ssl_cafile: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_SSL_CAFILE", "TOOLFORMER_KAFKA_SSL_CAFILE"),
        description="PEM bundle of the CAs that sign the brokers' certificates; unset: the "
                    "system's.")
    kafka_ssl_certfile: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_SSL_CERTFILE", "TOOLFORMER_KAFKA_SSL_CERTFILE"),
        description="PEM client certificate, for brokers that require one (mutual TLS).")
    kafka_ssl_keyfile: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_SSL_KEYFILE", "TOOLFORMER_KAFKA_SSL_KEYFILE"),
        description="PEM private key of the client certificate (unset: in the certfile).")
    kafka_sasl_mechanism: SaslMechanism | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_SASL_MECHANISM", "TOOLFORMER_KAFKA_SASL_MECHANISM"),
        description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; required by the SASL protocols.")
    kafka_sasl_username: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_SASL_USERNAME", "TOOLFORMER_KAFKA_SASL_USERNAME"))
    kafka_sasl_password: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_SASL_PASSWORD", "TOOLFORMER_KAFKA_SASL_PASSWORD"))
    kafka_sasl_password_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_SASL_PASSWORD_FILE",
                                      "TOOLFORMER_KAFKA_SASL_PASSWORD_FILE"),
        description="File holding the SASL password (a mounted Secret).")
    redis_username: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_USERNAME", "TOOLFORMER_REDIS_USERNAME"),
        description="Redis ACL user (unset: the URL's, else 'default').")
    redis_password: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_PASSWORD", "TOOLFORMER_REDIS_PASSWORD"),
        description="Redis password (wins over one in REDIS_URL).")
    redis_password_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("REDIS_PASSWORD_FILE", "TOOLFORMER_REDIS_PASSWORD_FILE"),
        description="File holding the Redis password (a mounted Secret).")
    redis_ssl_ca_certs: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("REDIS_SSL_CA_CERTS", "TOOLFORMER_REDIS_SSL_CA_CERTS"),
        description="PEM bundle of the CAs that sign Redis's certificate (rediss:// only).")

    @model_validator(mode="after")
    def _secured_connections(self) -> Self:
        # ConfigurationError, not ValueError: pydantic would wrap a ValueError with
        # the input of the model, passwords included, into its message.
        self.kafka_sasl_password = secret_from_file(
            "KAFKA_SASL_PASSWORD", self.kafka_sasl_password, self.kafka_sasl_password_file)
        self.redis_password = secret_from_file(
            "REDIS_PASSWORD", self.redis_password, self.redis_password_file)
        # read: a validation run again (a subclass, a copy) must not see both set
        self.kafka_sasl_password_file = self.redis_password_file = None
        self._check_kafka()
        self._check_redis()
        return self

    def _check_kafka(self) -> None:
        protocol = self.kafka_security_protocol
        sasl, tls = protocol.startswith("SASL_"), protocol.endswith("SSL")
        if sasl and self.kafka_sasl_mechanism is None:
            raise ConfigurationError(
                f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_MECHANISM "
                "(PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
        if sasl and (not self.kafka_sasl_username or self.kafka_sasl_password is None):
            raise ConfigurationError(
                f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_USERNAME and "
                "KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE)")
        if not sasl and (self.kafka_sasl_mechanism or self.kafka_sasl_username
                         or self.kafka_sasl_password is not None):
            raise ConfigurationError(
                f"KAFKA_SASL_* are set but KAFKA_SECURITY_PROTOCOL={protocol}; set it to "
                "SASL_SSL (or SASL_PLAINTEXT) to use them")
        files = {"KAFKA_SSL_CAFILE": self.kafka_ssl_cafile,
                 "KAFKA_SSL_CERTFILE": self.kafka_ssl_certfile,
                 "KAFKA_SSL_KEYFILE": self.kafka_ssl_keyfile}
        given = [name for name, path in files.items() if path is not None]
        if given and not tls:
            raise ConfigurationError(
                f"{', '.join(given)} set but KAFKA_SECURITY_PROTOCOL={protocol} does not use "
                "TLS; set it to SSL or SASL_SSL")
        if self.kafka_ssl_keyfile is not None and self.kafka_ssl_certfile is None:
            raise ConfigurationError("KAFKA_SSL_KEYFILE is set without KAFKA_SSL_CERTFILE")
        for name in given:
            _require_file(name, files[name])

    def _check_redis(self) -> None:
        url: str | None = getattr(self, "redis_url", None)
        if url is not None and self.redis_password is not None and _has_password(url):
            raise ConfigurationError(
                "REDIS_URL carries a password and REDIS_PASSWORD is set too; set it in one "
                "place (redis-py would use the URL's)")
        if self.redis_ssl_ca_certs is None:
            return
        if url is not None and not url.startswith("rediss://"):
            raise ConfigurationError(
                "REDIS_SSL_CA_CERTS is set but REDIS_URL is not a rediss:// (TLS) URL")
        _require_file("REDIS_SSL_CA_CERTS", self.redis_ssl_ca_certs)


def _has_password(url: str) -> bool:
    try:
        return bool(urlsplit(url).password)
    except ValueError:
        return False


def _require_file(name: str, path: Path | None) -> None:
    if path is not None and not path.is_file():
        raise ConfigurationError(f"{name}={path}: no such file")
