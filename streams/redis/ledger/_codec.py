"""How a recorded result is laid out in its Redis string.

``<flag><token>:<payload>``: ``flag`` is ``r`` (raw) or ``z`` (zlib), ``token``
the decimal fencing token that recorded it (so a retried ``complete`` of the
same token is recognised as done). Only results above the threshold are
compressed, and only when that makes them smaller.

A record of an execution with a fingerprint (a tool call: who asked for what)
is ``<FLAG><token>:<fingerprint>:<payload>``, with ``R`` or ``Z``: a later
claim of the same key with another fingerprint is a conflict, never answered
with this payload. The fingerprint is hex, so it holds no ``:``.
"""

from __future__ import annotations

import zlib

RAW = b"r"
ZLIB = b"z"
RAW_FP = b"R"
ZLIB_FP = b"Z"
_SEP = b":"
_FLAGS = (RAW, ZLIB, RAW_FP, ZLIB_FP)


def encode_record(token: int, result: bytes, compress_above: int, level: int = 6,
                  fingerprint: str = "") -> bytes:
    """Bytes to store for ``result`` recorded under ``token`` (and ``fingerprint``)."""
    compressed, payload = False, result
    if len(result) > compress_above:
        packed = zlib.compress(result, level)
        if len(packed) < len(result):
            compressed, payload = True, packed
    if not fingerprint:
        return b"".join((ZLIB if compressed else RAW, str(token).encode(), _SEP, payload))
    return b"".join((ZLIB_FP if compressed else RAW_FP, str(token).encode(), _SEP,
                     fingerprint.encode(), _SEP, payload))


def split_record(stored: bytes) -> tuple[str, bytes]:
    """The fingerprint ("" if none) and the result held in ``stored``; ValueError if it is
    not a record."""
    flag = stored[:1]
    sep = stored.find(_SEP, 1)
    if sep < 0 or flag not in _FLAGS:
        raise ValueError("not a ledger record")
    fingerprint = ""
    if flag in (RAW_FP, ZLIB_FP):
        end = stored.find(_SEP, sep + 1)
        if end < 0:
            raise ValueError("not a ledger record")
        fingerprint, sep = stored[sep + 1:end].decode("ascii", "replace"), end
    payload = stored[sep + 1 :]
    try:
        return fingerprint, zlib.decompress(payload) if flag in (ZLIB, ZLIB_FP) else payload
    except zlib.error as exc:
        raise ValueError("not a ledger record") from exc


def decode_record(stored: bytes) -> bytes:
    """The result held in ``stored``; ValueError if it is not a record."""
    return split_record(stored)[1]


def record_token(stored: bytes) -> int:
    """The fencing token that recorded ``stored``."""
    return int(stored[1 : stored.index(_SEP, 1)])
