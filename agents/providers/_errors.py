"""One translation of SDK failures into this package's errors, for every provider."""

from __future__ import annotations

from .exceptions import ProviderAuthError, ProviderError, ProviderRateLimitError


def provider_error(
    where: str,
    status_code: int | None,
    message: str,
    *,
    max_retries: int,
    timed_out: bool = False,
    unreachable: bool = False,
) -> ProviderError:
    """The error for a failed call to ``where`` (an API and model, for the message)."""
    if status_code in (401, 403):
        return ProviderAuthError(
            f"{where} refused the credentials (HTTP {status_code}): {message}. "
            "Check the API key and that base_url points at the intended server.",
            status_code=status_code,
        )
    if status_code == 429:
        return ProviderRateLimitError(
            f"{where} still answered 429 after {max_retries} retries: {message}. "
            "Lower the request rate or raise max_retries.",
            status_code=429,
        )
    if status_code is not None:
        hint = " (retried already)" if status_code >= 500 else ""
        return ProviderError(
            f"{where} answered HTTP {status_code}{hint}: {message}", status_code=status_code
        )
    if timed_out:
        return ProviderError(f"{where} did not answer in time: {message}. Raise timeout_s.")
    if unreachable:
        return ProviderError(
            f"cannot reach {where}: {message}. Check base_url and that the server is up."
        )
    return ProviderError(f"{where} failed: {message}")
