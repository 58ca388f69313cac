"""Seeded agent workloads for the speculation benchmark and its tests.

Three kinds of session, mixed by one ``random.Random(seed)``:

- research: ``search(query)``, then ``fetch(url)`` for the top results (three,
  sometimes two), then ``summarise(topic=query)``;
- support: ``lookup_customer(email)``, ``get_orders(customer_id)`` from the
  customer's id, then ``get_shipment(order_id)`` of the latest order (sometimes
  the one before);
- noise: calls of unrelated tools with random arguments, in sessions of their own
  and as extra turns inside the other two; one of them, ``save_note``, writes, so
  it is not read-only and never runs speculatively.

A tool's output is a pure function of its name and arguments (:func:`output_of`),
so the benchmark's tools and a scripted model can agree on every value without
talking to each other. Tool times are of the order of a model turn (a few hundred
ms), where speculation has something to hide.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

TOOL_MS: dict[str, int] = {
    "search": 300, "fetch": 450, "summarise": 400,
    "lookup_customer": 300, "get_orders": 400, "get_shipment": 400,
    "weather": 150, "convert": 100, "stock_quote": 150, "word_of_day": 100, "save_note": 150,
}
"""Mean run time of each tool (a call varies by up to 20% around it)."""
READ_ONLY = frozenset(TOOL_MS) - {"save_note"}
NOISE_TOOLS = ("weather", "convert", "stock_quote", "word_of_day", "save_note")
_WORDS = ("kafka", "redis", "latency", "agents", "tools", "cache", "stream", "ledger",
          "python", "faust", "quorum", "paxos", "raft", "vector", "index", "shard")
_CITIES = ("Paris", "Lima", "Oslo", "Osaka", "Accra", "Quito", "Perth", "Kyiv")


@dataclass(frozen=True, slots=True)
class WorkCall:
    """One tool call of a session, as the model makes it."""

    call_id: str
    tool: str
    arguments: dict[str, Any]
    duration_ms: float


@dataclass(frozen=True, slots=True)
class WorkSession:
    """One session: its turns, each a list of calls the model makes together."""

    session_id: str
    tenant: str
    kind: str
    turns: list[list[WorkCall]]


def _digest(*parts: object) -> int:
    text = "\x1f".join(str(part) for part in parts)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def output_of(tool: str, arguments: dict[str, Any]) -> Any:
    """What ``tool`` returns for ``arguments``: deterministic, small, shaped like the real thing."""
    h = _digest(tool, sorted(arguments.items()))
    if tool == "search":
        query = str(arguments.get("query", ""))
        return {"query": query, "results": [
            {"url": f"https://docs.example/{h % 10_000}/{i}", "title": f"{query} #{i}"}
            for i in range(5)]}
    if tool == "fetch":
        return {"url": arguments.get("url"), "text": f"page {h % 100_000}", "bytes": h % 9_000}
    if tool == "summarise":
        return {"summary": f"summary of {arguments.get('topic')}"}
    if tool == "lookup_customer":
        return {"customer": {"id": f"cus_{h % 1_000_000}", "email": arguments.get("email"),
                             "tier": ("free", "pro", "team")[h % 3]}}
    if tool == "get_orders":
        return {"orders": [{"id": f"ord_{(h >> 8) % 1_000_000}_{i}", "total": (h >> i) % 500}
                           for i in range(2 + h % 3)]}
    if tool == "get_shipment":
        return {"order_id": arguments.get("order_id"), "carrier": ("ups", "dhl", "post")[h % 3],
                "status": ("packed", "in_transit", "delivered")[(h >> 4) % 3]}
    return {"tool": tool, "value": h % 1_000}


def generate(seed: int, sessions: int, *, tenant: str = "bench", noise: float = 0.15,
             prefix: str = "s") -> list[WorkSession]:
    """``sessions`` sessions drawn from ``seed``: research 45%, support 40%, noise 15%."""
    rng = random.Random(seed)
    made: list[WorkSession] = []
    for n in range(sessions):
        session_id = f"{prefix}{seed}-{n}"
        draw = rng.random()
        kind = "research" if draw < 0.45 else "support" if draw < 0.85 else "noise"
        turns = _turns(rng, kind)
        if kind != "noise":
            turns = _with_noise(rng, turns, noise)
        made.append(WorkSession(session_id, tenant, kind, [
            [WorkCall(f"{session_id}-{t}-{i}", tool, args, duration_of(tool, args))
             for i, (tool, args) in enumerate(turn)] for t, turn in enumerate(turns)]))
    return made


Turn = list[tuple[str, dict[str, Any]]]


def _turns(rng: random.Random, kind: str) -> list[Turn]:
    if kind == "research":
        query = " ".join(rng.sample(_WORDS, 3))
        results = output_of("search", {"query": query})["results"]
        top = 3 if rng.random() < 0.85 else 2
        return [[("search", {"query": query})],
                [("fetch", {"url": r["url"]}) for r in results[:top]],
                [("summarise", {"topic": query})]]
    if kind == "support":
        email = f"user{rng.randrange(1_000_000)}@example.com"
        customer = output_of("lookup_customer", {"email": email})["customer"]["id"]
        orders = output_of("get_orders", {"customer_id": customer})["orders"]
        order = orders[0] if rng.random() < 0.9 else orders[1]
        return [[("lookup_customer", {"email": email})],
                [("get_orders", {"customer_id": customer})],
                [("get_shipment", {"order_id": order["id"]})]]
    return [[_noise_call(rng)] for _ in range(rng.randint(2, 4))]


def _with_noise(rng: random.Random, turns: list[Turn], rate: float) -> list[Turn]:
    mixed: list[Turn] = []
    for turn in turns:
        if rng.random() < rate:
            mixed.append([_noise_call(rng)])
        mixed.append(turn)
    return mixed


def _noise_call(rng: random.Random) -> tuple[str, dict[str, Any]]:
    tool = rng.choice(NOISE_TOOLS)
    if tool == "weather":
        return tool, {"city": rng.choice(_CITIES)}
    if tool == "convert":
        return tool, {"amount": rng.randrange(1, 1_000), "currency": rng.choice(("EUR", "JPY"))}
    if tool == "stock_quote":
        return tool, {"symbol": "".join(rng.choices("ABCDEFGHIJKLMNOP", k=3))}
    if tool == "save_note":
        return tool, {"text": " ".join(rng.sample(_WORDS, 2))}
    return tool, {"day": rng.randrange(1, 366)}


def duration_of(tool: str, arguments: dict[str, Any]) -> float:
    """How long a call runs (ms): its tool's mean, give or take 20%, fixed by the arguments."""
    spread = (_digest("ms", tool, sorted(arguments.items())) % 401) / 1000  # 0 .. 0.4
    return round(TOOL_MS.get(tool, 100) * (0.8 + spread), 1)
