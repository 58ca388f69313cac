"""Every Kafka client in streams/ is built with the security options, and every path passes them.

Read from the source (AST), so a new constructor call or a new caller that
forgets TLS/SASL fails here rather than in production against a secured broker:

- each ``AIOKafkaProducer``/``AIOKafkaConsumer``/``AIOKafkaAdminClient(...)``
  call receives ``**<KafkaSecurity>.client_options()``;
- the Faust app gets ``broker_credentials`` from ``faust_credentials()``;
- every call, inside streams/, of a function or class of ours that takes a
  ``security`` argument passes it (explicitly ``security=PLAINTEXT`` where the
  peer is known to be plaintext, as the embedded broker is).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import async_toolformer.streams as streams_package

CONSTRUCTORS = {"AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient"}
ROOT = Path(next(iter(streams_package.__path__)))


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(ROOT.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _gets_client_options(call: ast.Call) -> bool:
    return any(
        keyword.arg is None and isinstance(keyword.value, ast.Call)
        and _name(keyword.value.func) == "client_options"
        for keyword in call.keywords)


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT.parent)}:{getattr(node, 'lineno', '?')}"


def _takes_security() -> dict[str, set[Path]]:
    """Our functions and classes (by __init__ or dataclass field) that take ``security``,
    with the modules that define them (a private name is only looked for there)."""
    names: dict[str, set[Path]] = {}
    for path, module in _modules():
        for node in ast.walk(module):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                arguments = node.args
                params = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
                if any(p.arg == "security" for p in params):
                    names.setdefault(node.name, set()).add(path)
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
                            and item.target.id == "security"):
                        names.setdefault(node.name, set()).add(path)
                    if isinstance(item, ast.FunctionDef) and item.name == "__init__" and any(
                            a.arg == "security"
                            for a in [*item.args.args, *item.args.kwonlyargs]):
                        names.setdefault(node.name, set()).add(path)
    names.pop("__init__", None)
    return names


def test_every_kafka_client_constructor_gets_the_security_options() -> None:
    found, missing = [], []
    for path, module in _modules():
        for node in ast.walk(module):
            if isinstance(node, ast.Call) and _name(node.func) in CONSTRUCTORS:
                found.append(_where(path, node))
                if not _gets_client_options(node):
                    missing.append(_where(path, node))
    assert len(found) >= 10, f"the check found too few constructor calls to be looking: {found}"
    assert not missing, f"Kafka clients built without **security.client_options(): {missing}"


def test_the_faust_app_gets_the_broker_credentials() -> None:
    module = ast.parse((ROOT / "kafka" / "app.py").read_text(encoding="utf-8"))
    credentials = [
        keyword for node in ast.walk(module) if isinstance(node, ast.Call)
        for keyword in node.keywords if keyword.arg == "broker_credentials"]
    assert len(credentials) == 1
    value = credentials[0].value
    assert isinstance(value, ast.Call)
    assert _name(value.func) == "faust_credentials"


def test_every_call_of_a_secured_function_passes_security() -> None:
    secured = _takes_security()
    assert {"KafkaPublisher", "ensure_topics", "read_range", "ToolformerClient",
            "SessionClient", "group_status", "Driver"} <= secured.keys()
    missing = []
    for path, module in _modules():
        for node in ast.walk(module):
            name = _name(node.func) if isinstance(node, ast.Call) else None
            if name is None or name not in secured:
                continue
            if name.startswith("_") and path not in secured[name]:
                continue  # another module's private function of the same name
            assert isinstance(node, ast.Call)
            if any(k.arg == "security" or k.arg is None for k in node.keywords):
                continue
            missing.append(f"{_where(path, node)} {_name(node.func)}")
    assert not missing, f"calls that drop the Kafka security settings: {missing}"
