"""docker-compose.yml and the engines cannot drift apart: each engine's declared compose service (and the
other services it measures the same way, ``compose_alternatives``: KurrentDB beside EventStoreDB 24.10),
published port and environment variables are checked against the file, and the file against the
Compose Specification's JSON schema (vendored by check-jsonschema) plus a structural check of our own."""
from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from eventstore.plugins import ComposeService, Engine, engines

yaml = pytest.importorskip("yaml", reason="reading docker-compose.yml needs PyYAML (the bench extra)")

COMPOSE = Path(__file__).resolve().parent.parent / "docker-compose.yml"
TOP_LEVEL = {"version", "name", "services", "networks", "volumes", "configs", "secrets", "include"}
LOOPBACK = "127.0.0.1"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def declaring() -> list[Engine]:
    return [e for e in engines().values() if e.compose is not None]


def alternatives(engine: Engine) -> tuple[ComposeService, ...]:
    """Services an engine measures like its own but that a plain ``docker compose up`` leaves out (an
    engine's ``compose_alternatives``)."""
    return engine.compose_alternatives


def declared_services() -> list[tuple[Engine, ComposeService]]:
    return [(e, service) for e in declaring() for service in (e.compose, *alternatives(e)) if service is not None]


def published(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host ip, published port, container port) of each entry of ``ports``, short or long syntax."""
    out = []
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            out.append((str(entry.get("host_ip", "")), int(entry["published"]), int(entry["target"])))
            continue
        parts = str(entry).split("/")[0].rsplit(":", 2)
        if len(parts) != 3:
            pytest.fail(f"port {entry!r}: publish as HOST_IP:PORT:TARGET so the port is bound to {LOOPBACK} only")
        out.append((parts[0], int(parts[1]), int(parts[2])))
    return out


def header_exports() -> dict[str, list[str]]:
    """NAME=VALUE pairs of the comment at the top of the file, every value a name is given: what it tells a user to export."""
    comment = "\n".join(line for line in COMPOSE.read_text().splitlines() if line.startswith("#"))
    found: dict[str, list[str]] = {}
    for name, value in re.findall(r"\b([A-Z][A-Z0-9_]*)=('[^']*'|\"[^\"]*\"|[^\s\\]+)", comment):
        found.setdefault(name, []).append(value.strip("'\""))
    return found


# -- each engine against the file ------------------------------------------------------------------


@pytest.mark.parametrize(("engine", "declared"), declared_services(), ids=lambda x: x.name if isinstance(x, Engine) else x.service)
def test_the_declared_service_exists_and_publishes_the_declared_port(engine: Engine, declared: ComposeService, compose: dict[str, Any]) -> None:
    service = compose["services"].get(declared.service)
    assert service is not None, f"{engine.name} declares compose service {declared.service!r}, which docker-compose.yml lacks"
    ports = published(service)
    assert (LOOPBACK, declared.port) in [(ip, port) for ip, port, _ in ports], (
        f"{engine.name} reads port {declared.port}; service {declared.service!r} publishes {ports}"
    )


@pytest.mark.parametrize(("engine", "declared"), declared_services(), ids=lambda x: x.name if isinstance(x, Engine) else x.service)
def test_the_declared_variables_are_read_by_the_engine_and_point_at_the_service(engine: Engine, declared: ComposeService) -> None:
    reads = {v.name for v in engine.env}
    exports = header_exports()
    for name, value in declared.env.items():
        assert name in reads, f"{engine.name}: the compose settings set {name}, which the engine does not read ({sorted(reads)})"
        assert value in exports.get(name, []), f"docker-compose.yml's header tells users {name}={exports.get(name)!r}; {declared.service} expects {value!r}"
        for port in re.findall(rf"{re.escape(LOOPBACK)}:(\d+)", value):
            assert int(port) == declared.port, f"{engine.name}: {name}={value} points at port {port}, the service publishes {declared.port}"


def test_every_service_belongs_to_an_engine(compose: dict[str, Any]) -> None:
    claimed = {declared.service for _, declared in declared_services()}
    assert set(compose["services"]) <= claimed, f"services no registered engine declares: {sorted(set(compose['services']) - claimed)}"


def test_a_plain_up_starts_each_engine_once_and_an_alternative_starts_by_name(compose: dict[str, Any]) -> None:
    """Alternatives sit in a profile of their own: ``docker compose up`` starts one service per engine (the
    one its variables point at by default), and ``docker compose up -d --wait <alternative>`` the other."""
    services = compose["services"]
    plain = {name for name, service in services.items() if not service.get("profiles")}
    assert plain == {e.compose.service for e in declaring() if e.compose is not None}
    for engine in declaring():
        for declared in alternatives(engine):
            assert services[declared.service].get("profiles"), f"{declared.service}: an alternative of {engine.name} belongs to a profile"
            assert declared.port != getattr(engine.compose, "port", None), f"{declared.service} needs a port of its own"


# -- the file's structure ----------------------------------------------------------------------------


def test_the_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    """Validated against the Compose Specification schema that check-jsonschema ships (vendored from
    compose-spec); no network access."""
    jsonschema = pytest.importorskip("jsonschema")
    try:
        text = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text()
    except ModuleNotFoundError:
        pytest.skip("the Compose Specification schema comes with check-jsonschema, which is not installed (the test extra)")
    schema = json.loads(text)
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []


def test_the_files_structure(compose: dict[str, Any]) -> None:
    """What the workbench relies on, checked without any schema package: services with an image,
    ports bound to loopback only, environments as mappings, health checks in exec form."""
    assert set(compose) <= TOP_LEVEL, f"unknown top-level keys {sorted(set(compose) - TOP_LEVEL)}"
    services = compose["services"]
    assert isinstance(services, dict) and services
    for name, service in services.items():
        assert isinstance(service, dict) and isinstance(service.get("image"), str) and service["image"], f"{name}: no image"
        for ip, port, target in published(service):
            assert ip == LOOPBACK and 0 < port < 65536 and 0 < target < 65536, f"{name}: {ip}:{port}:{target} must bind {LOOPBACK}"
        environment = service.get("environment", {})
        assert isinstance(environment, dict) and all(isinstance(v, (str, int, bool)) for v in environment.values()), f"{name}: environment"
        check = service.get("healthcheck")
        if check is not None:
            assert isinstance(check["test"], list) and check["test"][0] in ("CMD", "CMD-SHELL", "NONE"), f"{name}: healthcheck.test"
        assert isinstance(service.get("profiles", []), list), f"{name}: profiles is a list"
