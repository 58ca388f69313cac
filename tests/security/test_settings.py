"""Security settings: validated, secrets from env or files, one set of client options for all.

The embedded broker offers no SASL login a test can use (Tansu 0.6.0 requires
authentication for creating the users it would check), so for SASL PLAIN and
SCRAM-SHA-256/512 these tests check the exact options every client gets: the
aiokafka keyword arguments, and what Faust derives from its credentials.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import SecretStr, ValidationError

from async_toolformer.streams.cli._runtime import settings_error
from async_toolformer.streams.exceptions import ConfigurationError
from async_toolformer.streams.kafka.app import create_app
from async_toolformer.streams.kafka.security import PLAINTEXT, KafkaSecurity
from async_toolformer.streams.redis.client import redis_client, redis_security_options
from async_toolformer.streams.worker.llm_settings import LLMSettings
from async_toolformer.streams.worker.secret_values import redact_url
from async_toolformer.streams.worker.settings import Settings

from .conftest import TlsFiles

SECRET = "pa55-w0rd-that-must-not-show"


def _settings(**values: object) -> Settings:
    return Settings.model_validate(values)


@pytest.mark.parametrize(("values", "says"), [
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "needs KAFKA_SASL_MECHANISM"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "PLAIN"},
     "needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"),
    ({"KAFKA_SASL_PASSWORD": SECRET}, "KAFKA_SECURITY_PROTOCOL=PLAINTEXT"),
    ({"KAFKA_SSL_CAFILE": "/etc/hostname"}, "does not use TLS"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "/no/ca.pem"},
     "KAFKA_SSL_CAFILE=/no/ca.pem: no such file"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_KEYFILE": "/etc/hostname"},
     "KAFKA_SSL_KEYFILE is set without KAFKA_SSL_CERTFILE"),
    ({"REDIS_SSL_CA_CERTS": "/etc/hostname", "redis_url": "redis://h:6379"},
     "not a rediss://"),
    ({"REDIS_PASSWORD": SECRET, "redis_url": f"redis://:{SECRET}x@h:6379"},
     "set it in one place"),
    ({"REDIS_PASSWORD": SECRET, "REDIS_PASSWORD_FILE": "/etc/hostname"},
     "both REDIS_PASSWORD and REDIS_PASSWORD_FILE"),
    ({"KAFKA_SASL_PASSWORD_FILE": "/no/secret"}, "cannot read the secret file"),
])
def test_a_combination_that_cannot_work_is_one_clear_error(values: dict[str, object],
                                                           says: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        _settings(**values)
    assert says in str(raised.value)
    assert SECRET not in str(raised.value)


def test_an_unknown_protocol_names_its_variable_and_a_bad_secret_is_not_echoed() -> None:
    with pytest.raises(ValidationError) as raised:
        _settings(KAFKA_SECURITY_PROTOCOL="TLS")
    assert settings_error(raised.value).startswith("invalid setting KAFKA_SECURITY_PROTOCOL:")
    with pytest.raises(ValidationError) as raised:
        LLMSettings.model_validate({"OPENAI_API_KEY": ["sk-list", SECRET]})
    assert SECRET not in settings_error(raised.value)


def test_secrets_come_from_files_and_never_show(tmp_path: Path) -> None:
    for name in ("kafka", "redis", "openai", "anthropic"):
        (tmp_path / name).write_text(f"{SECRET}-{name}\n")
    settings = _settings(KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
                         KAFKA_SASL_MECHANISM="SCRAM-SHA-256", KAFKA_SASL_USERNAME="alice",
                         KAFKA_SASL_PASSWORD_FILE=str(tmp_path / "kafka"),
                         REDIS_PASSWORD_FILE=str(tmp_path / "redis"))
    llm = LLMSettings.model_validate({"OPENAI_API_KEY_FILE": str(tmp_path / "openai"),
                                      "ANTHROPIC_API_KEY_FILE": str(tmp_path / "anthropic")})
    assert isinstance(settings.kafka_sasl_password, SecretStr)
    assert settings.kafka_sasl_password.get_secret_value() == f"{SECRET}-kafka"
    assert settings.redis_password is not None
    assert settings.redis_password.get_secret_value() == f"{SECRET}-redis"
    assert llm.openai_api_key is not None
    assert llm.openai_api_key.get_secret_value() == f"{SECRET}-openai"
    assert llm.anthropic_api_key is not None
    assert llm.anthropic_api_key.get_secret_value() == f"{SECRET}-anthropic"
    security = KafkaSecurity.from_settings(settings)
    for shown in (repr(settings), str(settings), settings.model_dump_json(), repr(llm),
                  repr(security), security.describe()):
        assert SECRET not in shown
    assert security.describe() == "SASL_PLAINTEXT (SCRAM-SHA-256 as alice)"


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://alice:s3cret@host:6379/0", "redis://alice:***@host:6379/0"),
    ("rediss://:s3cret@host/1", "rediss://:***@host/1"),
    ("redis://token@host", "redis://***@host"),
    ("redis://host:6379/0", "redis://host:6379/0"),
    ("not a url with s3cret@host", "***@host"),
])
def test_urls_are_shown_without_their_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_plaintext_is_the_default_and_adds_nothing() -> None:
    assert KafkaSecurity.from_settings(_settings()) == PLAINTEXT
    assert PLAINTEXT.client_options() == {"security_protocol": "PLAINTEXT"}
    assert PLAINTEXT.faust_credentials() is None


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_sasl_options_are_the_same_for_our_clients_and_faust(
        mechanism: str, protocol: str, tls_files: TlsFiles) -> None:
    settings = _settings(
        KAFKA_SECURITY_PROTOCOL=protocol, KAFKA_SASL_MECHANISM=mechanism,
        KAFKA_SASL_USERNAME="alice", KAFKA_SASL_PASSWORD=SECRET,
        **({"KAFKA_SSL_CAFILE": str(tls_files.ca)} if protocol == "SASL_SSL" else {}))
    security = KafkaSecurity.from_settings(settings)
    ours = security.client_options()
    assert ours["security_protocol"] == protocol
    assert ours["sasl_mechanism"] == mechanism
    assert ours["sasl_plain_username"] == "alice"
    assert ours["sasl_plain_password"] == SECRET
    assert isinstance(ours.get("ssl_context"), ssl.SSLContext) == (protocol == "SASL_SSL")
    faust = dict(credentials_to_aiokafka_auth(security.faust_credentials()))
    assert {k: v for k, v in faust.items() if k != "ssl_context"} == {
        k: v for k, v in ours.items() if k != "ssl_context"}
    assert isinstance(faust["ssl_context"], ssl.SSLContext) == (protocol == "SASL_SSL")
    app = create_app(settings, "127.0.0.1:9")
    assert app.conf.broker_credentials is not None
    assert dict(credentials_to_aiokafka_auth(app.conf.broker_credentials))["sasl_mechanism"] \
        == mechanism


def test_tls_verifies_the_broker_and_loads_the_client_certificate(tls_files: TlsFiles) -> None:
    security = KafkaSecurity(protocol="SSL", cafile=tls_files.ca, certfile=tls_files.client_cert,
                             keyfile=tls_files.client_key)
    context = security.client_options()["ssl_context"]
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    faust = dict(credentials_to_aiokafka_auth(security.faust_credentials()))
    assert faust["security_protocol"] == "SSL"
    assert isinstance(faust["ssl_context"], ssl.SSLContext)
    broken = KafkaSecurity(protocol="SSL", cafile=tls_files.ca, certfile=tls_files.ca,
                           keyfile=tls_files.client_key)
    with pytest.raises(ConfigurationError, match="cannot load the client certificate"):
        broken.client_options()


def test_redis_options_carry_the_acl_user_password_and_ca(tls_files: TlsFiles) -> None:
    settings = _settings(redis_url="rediss://h:6380/0", REDIS_USERNAME="worker",
                         REDIS_PASSWORD=SECRET, REDIS_SSL_CA_CERTS=str(tls_files.ca))
    options = redis_security_options(settings)
    assert options == {"username": "worker", "password": SECRET,
                       "ssl_ca_certs": str(tls_files.ca)}
    client = redis_client("rediss://h:6380/0", **options)
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["username"], kwargs["password"]) == ("worker", SECRET)
    assert kwargs["ssl_ca_certs"] == str(tls_files.ca)
    assert redis_security_options(_settings()) == {}
