"""The orjson codec, registered with Faust under the name ``orjson``."""

from __future__ import annotations

from typing import Any

import orjson
from faust.serializers import codecs

CODEC_NAME = "orjson"


class OrjsonCodec(codecs.Codec):
    """Faust codec that reads and writes JSON with orjson."""

    def _dumps(self, obj: Any) -> bytes:
        return orjson.dumps(obj, default=_to_jsonable)

    def _loads(self, s: bytes) -> Any:
        return orjson.loads(s)


def _to_jsonable(obj: Any) -> Any:
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def register() -> None:
    """Make ``value_serializer="orjson"`` available to Faust topics and tables."""
    codecs.register(CODEC_NAME, OrjsonCodec())
