"""The one place that turns the security settings into options of a Kafka client.

Every aiokafka producer, consumer and admin client the project builds takes
``**security.client_options()``, and the Faust worker takes
``security.faust_credentials()`` (Faust hands the same options to the aiokafka
clients it builds), so TLS, the CA bundle, a client certificate and SASL apply
alike everywhere. A unit test fails if a constructor call in ``streams/`` does
not receive them.

    security = KafkaSecurity.from_settings(settings)
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, **security.client_options())

The TLS context verifies the broker's certificate and host name
(:func:`ssl.create_default_context`) against ``KAFKA_SSL_CAFILE``, or the
system's CAs when it is unset.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from async_toolformer.streams.exceptions import ConfigurationError
from async_toolformer.streams.worker.security_settings import (
    KafkaSecurityProtocol,
    SaslMechanism,
)

if TYPE_CHECKING:
    from async_toolformer.streams.worker.security_settings import SecuritySettings

__all__ = ["PLAINTEXT", "KafkaSecurity"]


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    """How a Kafka client connects: protocol, TLS files, SASL mechanism and credentials.

    Checked as settings (:class:`SecuritySettings`); built directly, it is
    taken as given. The password is a ``SecretStr`` and left out of the repr.
    """

    protocol: KafkaSecurityProtocol = "PLAINTEXT"
    cafile: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: SecuritySettings) -> KafkaSecurity:
        return cls(
            protocol=settings.kafka_security_protocol,
            cafile=settings.kafka_ssl_cafile,
            certfile=settings.kafka_ssl_certfile,
            keyfile=settings.kafka_ssl_keyfile,
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_username=settings.kafka_sasl_username,
            sasl_password=settings.kafka_sasl_password,
        )

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments of ``AIOKafkaProducer``/``Consumer``/``AdminClient``."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context()
        if self.uses_sasl:
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else None)
        return options

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context: the broker's certificate and name verified, ours if given."""
        try:
            context = ssl.create_default_context(
                cafile=str(self.cafile) if self.cafile else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(
                f"KAFKA_SSL_CAFILE={self.cafile}: cannot load the CA bundle ({_reason(exc)})"
            ) from None
        if self.certfile is not None:
            try:
                context.load_cert_chain(str(self.certfile),
                                        str(self.keyfile) if self.keyfile else None)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigurationError(
                    f"KAFKA_SSL_CERTFILE={self.certfile} / KAFKA_SSL_KEYFILE={self.keyfile}: "
                    f"cannot load the client certificate ({_reason(exc)})") from None
        return context

    def faust_credentials(self) -> Any:
        """The same as Faust's ``broker_credentials`` (None for PLAINTEXT).

        Faust turns them back into exactly the aiokafka options above, for its
        consumer and producer alike.
        """
        import faust  # its public credentials, not its internals (see faust_private)

        if self.uses_sasl:
            return faust.SASLCredentials(
                username=self.sasl_username,
                password=self.sasl_password.get_secret_value() if self.sasl_password else None,
                ssl_context=self.ssl_context() if self.uses_tls else None,
                mechanism=self.sasl_mechanism)
        if self.uses_tls:
            return faust.SSLCredentials(self.ssl_context())
        return None

    def describe(self) -> str:
        """For banners and logs: the protocol, mechanism and user, never the password."""
        text: str = self.protocol
        if self.uses_sasl:
            text += f" ({self.sasl_mechanism} as {self.sasl_username})"
        if self.uses_tls and self.certfile is not None:
            text += " with a client certificate"
        return text


PLAINTEXT = KafkaSecurity()
"""No TLS, no SASL: what a client gets when it is given no security."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__
