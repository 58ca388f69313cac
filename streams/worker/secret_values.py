"""Secrets from the environment or from mounted files, and URLs shown without theirs.

Kubernetes mounts a Secret as files, so each secret setting ``NAME`` may instead
be given as ``NAME_FILE``, the path of a file holding it (one trailing newline
is dropped, as ``echo`` and most editors add one). Setting both is an error: one
of them would be silently ignored.

A URL such as ``REDIS_URL`` may carry a password in its userinfo; whatever
prints or logs a URL prints :func:`redact_url` of it.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

from async_toolformer.streams.exceptions import ConfigurationError

__all__ = ["redact_url", "secret_from_file"]

REDACTED = "***"


def secret_from_file(name: str, value: SecretStr | None, path: Path | None) -> SecretStr | None:
    """The secret ``name``: ``value`` (from ``NAME``) or the content of ``path`` (``NAME_FILE``).

    Errors name the variables and the path, never the secret.
    """
    if path is None:
        return value
    if value is not None:
        raise ConfigurationError(
            f"both {name} and {name}_FILE are set; set only one of them")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigurationError(
            f"{name}_FILE={path}: cannot read the secret file ({reason})") from None
    secret = text.removesuffix("\n").removesuffix("\r")
    if not secret:
        raise ConfigurationError(f"{name}_FILE={path}: the secret file is empty")
    return SecretStr(secret)


def redact_url(url: str) -> str:
    """``url`` with the password of its userinfo (or a lone token) replaced by ``***``.

    ``redis://alice:pw@host:6379/0`` becomes ``redis://alice:***@host:6379/0``;
    ``redis://:pw@host`` becomes ``redis://:***@host``. Anything that does not
    parse as a URL with a network location is returned as it is, unless it holds
    an ``@``, which is then cut down to what follows it.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return _after_at(url)
    if not parts.netloc:
        return _after_at(url)
    if "@" not in parts.netloc:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user, has_password, _ = userinfo.partition(":")
    # a lone token (redis://token@host) may be a password too
    userinfo = f"{user}:{REDACTED}" if has_password else REDACTED
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))


def _after_at(text: str) -> str:
    return f"{REDACTED}@{text.rpartition('@')[2]}" if "@" in text else text
