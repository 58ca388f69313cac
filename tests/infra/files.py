"""Readers of the deployment files, for the tests that check them without running them.

There is no container engine or cluster where the tests run, so the files are
parsed and their settings compared with what the code and the docs rely on.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

__all__ = ["INFRA", "ROOT", "LockEntry", "canonical", "compose", "dockerfile_instructions",
           "k8s_documents", "lock_entries", "pyproject", "yaml_file"]

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"


def yaml_file(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml_file(ROOT / "docker-compose.yml")
    return document


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def k8s_documents() -> list[tuple[Path, dict[str, Any]]]:
    """Every Kubernetes object under infra/k8s (kustomizations and Helm values left out)."""
    found: list[tuple[Path, dict[str, Any]]] = []
    for path in sorted((INFRA / "k8s").rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(document, dict) and "kind" in document and "apiVersion" in document \
                    and document["kind"] != "Kustomization":
                found.append((path, document))
    return found


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    if pending:
        logical.append(pending)
    pairs = []
    for entry in logical:
        instruction, _, arguments = entry.partition(" ")
        pairs.append((instruction.upper(), " ".join(arguments.split())))
    return pairs


class LockEntry:
    """One pinned requirement of a pip-compile lock file."""

    def __init__(self, name: str, version: str, hashes: list[str]) -> None:
        self.name = name
        self.version = version
        self.hashes = hashes


_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>\S+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_entries(text: str) -> dict[str, LockEntry]:
    """The pins of a lock file by canonical name; a line that pins nothing is an error."""
    entries: dict[str, LockEntry] = {}
    current: LockEntry | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("--hash="):
            if current is None:
                raise ValueError(f"a hash before any requirement: {stripped}")
            current.hashes.append(stripped.removeprefix("--hash=").rstrip("\\ "))
            continue
        match = _PIN.match(stripped)
        if match is None:
            raise ValueError(f"not a pinned requirement: {stripped!r}")
        current = LockEntry(canonical(match["name"]), match["version"], [])
        entries[current.name] = current
    return entries
