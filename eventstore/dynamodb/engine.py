"""The DynamoDB engine: DynamoDB itself, or any endpoint speaking its HTTP API (moto here, an emulator)."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..plugins import ComposeService, CostModel, Deployment, Engine, EnvVar, Servers
from ..store import EventStore
from .connection import ENV_ENDPOINT, ENV_REGION, ENV_TABLE


class DynamoDBEngine(Engine):
    name = "dynamodb"
    description = "DynamoDB adapter against a local moto server (an emulator: not DynamoDB's speed)"
    schemes = ("dynamodb",)
    url_form = "dynamodb://TABLE?endpoint_url=...&region=... (what the URL omits comes from the environment)"
    env = (
        EnvVar(ENV_ENDPOINT, "DynamoDB endpoint (no endpoint and no local emulator: AWS itself)"),
        EnvVar(ENV_TABLE, "table name prefix when the URL names none"),
        EnvVar(ENV_REGION, "AWS region"),
        EnvVar("AWS_ACCESS_KEY_ID", "AWS credentials", secret=True),
        EnvVar("AWS_SECRET_ACCESS_KEY", "AWS credentials", secret=True),
    )
    packages = ("boto3", "moto")
    docs = Path(__file__).with_name("README.md")
    compose = ComposeService("dynamodb", 8000, {
        ENV_ENDPOINT: "http://127.0.0.1:8000", ENV_REGION: "us-east-1", "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
    })
    rank = 20
    conformance = "eventstore.dynamodb.conformance:DynamoDBConformance"
    raw_path = "eventstore.dynamodb.raw:DynamoDBRawPath"

    def open_store(self, url: str) -> EventStore:
        from .store import DynamoDBStore

        return DynamoDBStore.from_url(url)

    def endpoint(self, servers: Servers) -> tuple[str, dict[str, Any]]:
        """The endpoint and settings of the run's DynamoDB: ``$EVENTSTORE_DYNAMODB_ENDPOINT`` or a local
        moto server (an emulator), started once per run."""
        endpoint = os.environ.get(ENV_ENDPOINT)
        if endpoint:
            return endpoint, {"endpoint": f"external ({ENV_ENDPOINT})"}
        from .server import MotoServer

        server = servers.get("moto", lambda: MotoServer(base_dir=servers.workdir).start())
        for key, value in server.env().items():  # dummy credentials and region, for the emulator only
            if key.startswith("AWS_"):
                os.environ.setdefault(key, value)
        return server.endpoint_url, {"endpoint": "local moto server (DynamoDB emulator)", "server": server.version}

    def cost_model(self, event_bytes: int | None) -> CostModel:
        """Capacity units and on-demand dollars per million events (``cost.py``)."""
        from .cost import model

        return model(event_bytes)

    @contextmanager
    def deploy(self, servers: Servers) -> Iterator[Deployment]:
        endpoint, settings = self.endpoint(servers)
        region = os.environ.get(ENV_REGION, "us-east-1")
        settings |= {"process": "serverless service", "durability": "in memory (emulator)" if "moto" in settings["endpoint"] else "as the endpoint is configured"}
        if os.environ.get(ENV_ENDPOINT):
            no_crash = f"external endpoint ({ENV_ENDPOINT}): the run did not start it, so it does not crash it"
        else:
            no_crash = "moto keeps its tables in memory: a restarted emulator starts empty, so a crash says nothing about DynamoDB"
        with Deployment(self, lambda label: f"dynamodb://{label}?endpoint_url={quote(endpoint, safe='')}&region={region}", settings=settings,
                        no_crash_reason=no_crash) as deployment:
            yield deployment


ENGINE = DynamoDBEngine()
