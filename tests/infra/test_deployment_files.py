"""The deployment files are safe by default: checked by parsing them, not by running them.

Compose publishes nothing beyond the host's loopback, Redis needs a password and
keeps its data, Grafana asks for a login; the worker pods sit behind a
NetworkPolicy and read secrets from a Secret only; the image installs exactly the
hashed pins of the lock file, which cover every runtime dependency.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from tests.infra.files import (
    INFRA,
    ROOT,
    canonical,
    compose,
    dockerfile_instructions,
    k8s_documents,
    lock_entries,
    pyproject,
    yaml_file,
)

LOOPBACK = {"127.0.0.1", "::1", "[::1]"}
# `${NAME:?message}`: compose refuses to start while NAME is unset or empty.
REQUIRED_VARIABLE = re.compile(r"^\$\{(?P<name>\w+):\?[^}]+\}$")
SECRET_KEY = re.compile(r"KEY|PASSWORD|TOKEN|SECRET", re.IGNORECASE)
URL_WITH_USERINFO = re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s@]*@", re.IGNORECASE)
LOCK_FILE = INFRA / "requirements.lock"


# --- Docker Compose -------------------------------------------------------------------

def host_ip(port: object) -> str | None:
    """The host address a compose `ports` entry binds; None when it binds every interface."""
    if isinstance(port, dict):
        address = port.get("host_ip")
        return str(address) if address else None
    text = str(port)
    if text.startswith("["):  # [::1]:6379:6379
        address, _, rest = text[1:].partition("]")
        return address if rest.count(":") == 2 else None
    parts = text.split(":")
    return parts[0] if len(parts) == 3 and parts[0] else None


@pytest.mark.parametrize(("entry", "expected"), [
    ("9092:9092", None),
    ("9464", None),
    (9464, None),
    ("0.0.0.0:9090:9090", "0.0.0.0"),
    ("127.0.0.1:6379:6379", "127.0.0.1"),
    ("[::1]:3000:3000", "::1"),
    ({"target": 3000, "published": 3000}, None),
    ({"target": 3000, "published": 3000, "host_ip": "127.0.0.1"}, "127.0.0.1"),
])
def test_host_ip_reads_every_port_syntax(entry: object, expected: str | None) -> None:
    assert host_ip(entry) == expected


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, whether written as a mapping or as a list of NAME=value."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        return dict(str(item).partition("=")[::2] for item in raw)
    return {str(name): str(value) for name, value in raw.items()}


def options(command: list[str]) -> dict[str, str]:
    """`redis-server --name value ...` as {name: value}."""
    return {flag.removeprefix("--"): value
            for flag, value in zip(command[1::2], command[2::2], strict=False)}


def test_no_service_publishes_a_port_on_every_interface() -> None:
    exposed = {name: port for name, service in compose()["services"].items()
               for port in service.get("ports", []) if host_ip(port) not in LOOPBACK}
    assert exposed == {}, "publish on 127.0.0.1 only (or use `expose`)"


def test_redis_requires_a_password_and_keeps_its_data() -> None:
    services = compose()["services"]
    redis = services["redis"]
    command = redis["command"]
    assert command[0] == "redis-server"
    settings = options(command)
    password = REQUIRED_VARIABLE.match(settings.get("requirepass", ""))
    assert password, "requirepass must be a required variable, ${NAME:?message}, no default"
    variable = password["name"]
    assert settings.get("appendonly") == "yes"
    assert settings.get("appendfsync") == "everysec"
    assert settings.get("maxmemory-policy") == "noeviction"
    assert any(str(volume).endswith(":/data") for volume in redis.get("volumes", [])), \
        "the append-only file must live in a volume"
    # The healthcheck and every worker authenticate with the same variable.
    assert re.match(rf"^\$\{{{variable}:\?", environment(redis).get("REDISCLI_AUTH", ""))
    worker_url = environment(services["worker"])["REDIS_URL"]
    assert worker_url.startswith(f"redis://:${{{variable}:?"), worker_url


def test_grafana_asks_for_a_login() -> None:
    grafana = environment(compose()["services"]["grafana"])
    assert grafana.get("GF_AUTH_ANONYMOUS_ENABLED") == "false"
    password = grafana.get("GF_SECURITY_ADMIN_PASSWORD", "")
    assert REQUIRED_VARIABLE.match(password), \
        f"the admin password must be required, with no default: {password!r}"


# --- Kubernetes -----------------------------------------------------------------------

def objects(kind: str) -> list[dict[str, Any]]:
    return [document for _path, document in k8s_documents() if document["kind"] == kind]


def test_base_kustomization_applies_every_object_it_names() -> None:
    base = INFRA / "k8s" / "base"
    resources = yaml_file(base / "kustomization.yaml")["resources"]
    assert "networkpolicy.yaml" in resources
    assert all((base / resource).is_file() for resource in resources)


def test_a_network_policy_guards_the_worker_pods() -> None:
    (deployment,) = objects("Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    metrics_port = next(port for port in container["ports"] if port["name"] == "metrics")
    policies = [policy for policy in objects("NetworkPolicy")
                if policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()]
    assert len(policies) == 1, "one NetworkPolicy must select the worker pods"
    spec = policies[0]["spec"]
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
    ingress_ports = [port["port"] for rule in spec["ingress"] for port in rule["ports"]]
    assert ingress_ports, "an ingress rule without ports would admit every port"
    assert set(ingress_ports) <= {"metrics", metrics_port["containerPort"]}
    egress_ports = {port["port"] for rule in spec["egress"] for port in rule.get("ports", [])}
    assert all(rule.get("ports") for rule in spec["egress"]), "every egress rule names its ports"
    assert egress_ports == {53, 9092, 6379, 443}


def test_no_config_map_holds_a_secret() -> None:
    found = []
    for config_map in objects("ConfigMap"):
        for key, value in (config_map.get("data") or {}).items():
            if SECRET_KEY.search(key) or URL_WITH_USERINFO.search(str(value)):
                found.append(f"{config_map['metadata']['name']}: {key}")
    assert found == [], "passwords, keys, tokens and URLs with credentials go in a Secret"


def test_secret_patterns_catch_what_they_are_for() -> None:
    assert SECRET_KEY.search("OPENAI_API_KEY")
    assert URL_WITH_USERINFO.search("redis://:hunter2@redis:6379/0")
    assert URL_WITH_USERINFO.search("url = 'https://user:pw@example.com/x'")
    assert not URL_WITH_USERINFO.search("redis://redis-master.redis.svc:6379/0")


def test_the_deployment_reads_secrets_from_the_secret() -> None:
    (deployment,) = objects("Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    secret_refs = [source["secretRef"] for source in container["envFrom"] if "secretRef" in source]
    assert [ref["name"] for ref in secret_refs] == ["toolformer-secrets"]
    # Read after the ConfigMap, so a key in both comes from the Secret.
    assert "secretRef" in container["envFrom"][-1]


# --- Docker image and the lock file ---------------------------------------------------

def pip_installs() -> list[str]:
    return [arguments for instruction, arguments
            in dockerfile_instructions((ROOT / "Dockerfile").read_text(encoding="utf-8"))
            if instruction == "RUN" and "pip install" in arguments]


def test_the_image_installs_the_hashed_lock_then_the_project_alone() -> None:
    instructions = dockerfile_instructions((ROOT / "Dockerfile").read_text(encoding="utf-8"))
    copies = [arguments.split() for instruction, arguments in instructions
              if instruction == "COPY" and "infra/requirements.lock" in arguments.split()]
    assert len(copies) == 1, "the Dockerfile copies infra/requirements.lock"
    lock_in_image = Path(copies[0][-1]).name
    installs = pip_installs()
    from_lock = [run for run in installs if re.search(rf"-r \S*{re.escape(lock_in_image)}", run)]
    assert from_lock, "the dependencies are installed from the lock file"
    assert all("--require-hashes" in run and "--no-deps" in run for run in from_lock)
    # Nothing else may resolve a dependency: every other install is --no-deps.
    assert all("--no-deps" in run for run in installs), installs
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert "infra" not in ignored or "!infra/requirements.lock" in ignored, \
        "the lock file must reach the build context"


def runtime_closure() -> dict[str, Requirement]:
    """[project] dependencies and, through the installed metadata, theirs (extras followed)."""
    pending = [Requirement(text) for text in pyproject()["project"]["dependencies"]]
    found: dict[str, Requirement] = {}
    while pending:
        requirement = pending.pop()
        name = canonical(requirement.name)
        if name in found and requirement.extras <= found[name].extras:
            continue
        found[name] = requirement
        try:
            metadata = distribution(requirement.name).requires or []
        except PackageNotFoundError:
            continue  # not installed here: its own pin is still checked below
        for text in metadata:
            child = Requirement(text)
            wanted = [{"extra": extra} for extra in requirement.extras] or [{"extra": ""}]
            if child.marker is None or any(child.marker.evaluate(env) for env in wanted):
                pending.append(child)
    return found


def test_the_lock_pins_every_runtime_dependency_with_a_hash() -> None:
    pins = lock_entries(LOCK_FILE.read_text(encoding="utf-8"))
    closure = runtime_closure()
    missing = sorted(set(closure) - set(pins))
    assert missing == [], f"regenerate infra/requirements.lock (infra/README.md): {missing}"
    for name, requirement in closure.items():
        assert requirement.specifier.contains(pins[name].version, prereleases=True), \
            f"{name}=={pins[name].version} does not satisfy {requirement}"
    unhashed = sorted(name for name, pin in pins.items() if not pin.hashes)
    assert unhashed == []
    assert all(digest.startswith("sha256:") for pin in pins.values() for digest in pin.hashes)


def test_the_lock_holds_no_development_tool() -> None:
    pins = lock_entries(LOCK_FILE.read_text(encoding="utf-8"))
    extras = pyproject()["project"]["optional-dependencies"]
    dev_only = {canonical(Requirement(text).name) for group in extras.values() for text in group}
    runtime = set(runtime_closure())
    assert sorted((dev_only - runtime) & set(pins)) == []
