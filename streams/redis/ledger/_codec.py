"""How a recorded result is laid out in its Redis string.

``<flag><token>:<payload>``: ``flag`` is ``r`` (raw) or ``z`` (zlib), ``token``
the decimal fencing token that recorded it (so a retried ``complete`` of the
same token is recognised as done). Only results above the threshold are
compressed, and only when that makes them smaller.
"""

from __future__ import annotations

import zlib

RAW = b"r"
ZLIB = b"z"
_SEP = b":"


def encode_record(token: int, result: bytes, compress_above: int, level: int = 6) -> bytes:
    """Bytes to store for ``result`` recorded under ``token``."""
    flag, payload = RAW, result
    if len(result) > compress_above:
        packed = zlib.compress(result, level)
        if len(packed) < len(result):
            flag, payload = ZLIB, packed
    return b"".join((flag, str(token).encode(), _SEP, payload))


def decode_record(stored: bytes) -> bytes:
    """The result held in ``stored``; ValueError if it is not a record."""
    flag = stored[:1]
    sep = stored.find(_SEP, 1)
    if sep < 0 or flag not in (RAW, ZLIB):
        raise ValueError("not a ledger record")
    payload = stored[sep + 1 :]
    return zlib.decompress(payload) if flag == ZLIB else payload


def record_token(stored: bytes) -> int:
    """The fencing token that recorded ``stored``."""
    return int(stored[1 : stored.index(_SEP, 1)])
