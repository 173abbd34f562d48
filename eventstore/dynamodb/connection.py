"""Connecting: settings from the URL and the environment, the client, the tables, and which engine answers.

A URL carries everything a process needs (``dynamodb://TABLE?endpoint_url=...&region=...``), so a
consumer started in another process from the same URL reaches the same tables. What the URL leaves
out comes from the environment: ``EVENTSTORE_DYNAMODB_ENDPOINT``, ``EVENTSTORE_DYNAMODB_TABLE``,
``AWS_DEFAULT_REGION`` and the usual AWS credential variables.
"""
from __future__ import annotations

import importlib.metadata
import ipaddress
import os
import re
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from ..capabilities import EngineInfo
from ..errors import InvalidInput
from .layout import Tables

ENV_ENDPOINT = "EVENTSTORE_DYNAMODB_ENDPOINT"
ENV_TABLE = "EVENTSTORE_DYNAMODB_TABLE"
ENV_REGION = "AWS_DEFAULT_REGION"
DEFAULT_TABLE = "eventstore"
#: Emulators ignore the region; AWS needs one to be named.
EMULATOR_REGION = "us-east-1"
URL_PARAMETERS = ("endpoint_url", "region")
#: DynamoDB allows 3-255 characters; the longest derived name adds "-snapshots" (10).
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,245}")
TABLE_ACTIVE_TIMEOUT_S = 300
#: Enough connections for a benchmark's writer threads to share one client without queueing.
MAX_POOL_CONNECTIONS = 64


@dataclass(frozen=True)
class Settings:
    """Which tables, at which endpoint, in which region."""

    table: str = DEFAULT_TABLE
    endpoint_url: str | None = None
    region: str | None = None

    def __post_init__(self) -> None:
        if not _TABLE_NAME.fullmatch(self.table):
            raise InvalidInput(f"DynamoDB table name must be 3-245 characters of A-Z a-z 0-9 _ . -, not {self.table!r}")

    @classmethod
    def from_url(cls, url: str, environ: Mapping[str, str] = os.environ) -> Settings:
        """``dynamodb://TABLE?endpoint_url=...&region=...``; the environment fills what the URL omits."""
        parts = urlsplit(url)
        if parts.scheme != "dynamodb":
            raise InvalidInput(f"not a dynamodb:// URL: {url!r}")
        params = parse_qs(parts.query, keep_blank_values=True)
        unknown = sorted(set(params) - set(URL_PARAMETERS))
        if unknown:
            raise InvalidInput(f"unknown dynamodb URL parameter(s) {unknown}; known: {list(URL_PARAMETERS)}")
        given = {k: v[-1] for k, v in params.items() if v[-1]}
        return cls(
            table=(parts.netloc + parts.path).strip("/") or environ.get(ENV_TABLE) or DEFAULT_TABLE,
            endpoint_url=given.get("endpoint_url") or environ.get(ENV_ENDPOINT) or None,
            region=given.get("region") or environ.get(ENV_REGION) or None,
        )

    def to_url(self) -> str:
        query = urlencode({k: v for k, v in (("endpoint_url", self.endpoint_url), ("region", self.region)) if v})
        return f"dynamodb://{self.table}" + (f"?{query}" if query else "")


def connect(settings: Settings, engine: EngineInfo) -> Any:
    """A low-level client (thread-safe, and faster than the resource API).

    An emulator gets dummy credentials when the environment has none: emulators accept any.
    Loopback endpoints bypass HTTP(S)_PROXY, which would otherwise swallow local traffic.
    """
    session = boto3.session.Session()
    region = settings.region or session.region_name or (EMULATOR_REGION if engine.emulator else None)
    if region is None:
        raise InvalidInput(f"no AWS region: set {ENV_REGION} or add ?region=... to the dynamodb:// URL")
    config = Config(
        retries={"mode": "standard", "max_attempts": 5},
        max_pool_connections=MAX_POOL_CONNECTIONS,
        proxies={} if _is_loopback(settings.endpoint_url) else None,
    )
    credentials: dict[str, str] = {}
    if engine.emulator and not os.environ.get("AWS_ACCESS_KEY_ID"):
        credentials = {"aws_access_key_id": "emulator", "aws_secret_access_key": "emulator"}
    return session.client("dynamodb", region_name=region, endpoint_url=settings.endpoint_url, config=config, **credentials)


def ensure_tables(client: Any, tables: Tables) -> None:
    """Create missing tables (on-demand billing), wait until all are active, and check their keys."""
    for name, pk, sk in tables.all():
        try:
            client.describe_table(TableName=name)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            _create_table(client, name, pk, sk)
    for name, pk, sk in tables.all():
        _wait_active(client, name, pk, sk)


def delete_tables(client: Any, tables: Tables) -> None:
    """Drop every table of the store: all its events, checkpoints and snapshots."""
    for name, _, _ in tables.all():
        try:
            client.delete_table(TableName=name)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise


def _create_table(client: Any, name: str, pk: str, sk: str) -> None:
    try:
        client.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": pk, "AttributeType": "S"}, {"AttributeName": sk, "AttributeType": "N"}],
            KeySchema=[{"AttributeName": pk, "KeyType": "HASH"}, {"AttributeName": sk, "KeyType": "RANGE"}],
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":  # another process created it first
            raise


def _wait_active(client: Any, name: str, pk: str, sk: str) -> None:
    deadline = time.monotonic() + TABLE_ACTIVE_TIMEOUT_S
    while True:
        table = client.describe_table(TableName=name)["Table"]
        keys = {k["KeyType"]: k["AttributeName"] for k in table["KeySchema"]}
        if keys != {"HASH": pk, "RANGE": sk}:
            raise InvalidInput(f"table {name!r} exists with keys {keys}, not {{'HASH': {pk!r}, 'RANGE': {sk!r}}}; use another table name")
        if table["TableStatus"] == "ACTIVE":
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"table {name!r} is still {table['TableStatus']} after {TABLE_ACTIVE_TIMEOUT_S}s")
        time.sleep(1)


# -- which engine answers --------------------------------------------------------------------------


def detect_engine(endpoint_url: str | None) -> EngineInfo:
    """Name the engine behind the endpoint exactly; an emulator is always labelled as one.

    moto's server does not report its version, so the version is that of the moto package installed
    here (the one ``services.moto.MotoServer`` runs).
    """
    if endpoint_url is None or (urlsplit(endpoint_url).hostname or "").endswith((".amazonaws.com", ".amazonaws.com.cn")):
        return EngineInfo("dynamodb", "Amazon DynamoDB", "service", emulator=False)
    if _answers_as_moto(endpoint_url):
        return EngineInfo("dynamodb", "moto (DynamoDB emulator)", _installed_moto_version(), emulator=True)
    return EngineInfo("dynamodb", "unidentified DynamoDB emulator (DynamoDB Local or similar)", "unknown", emulator=True)


def _answers_as_moto(endpoint_url: str) -> bool:
    handlers = [urllib.request.ProxyHandler({})] if _is_loopback(endpoint_url) else []
    try:
        with urllib.request.build_opener(*handlers).open(f"{endpoint_url.rstrip('/')}/moto-api/", timeout=3) as response:
            return b"<title>Moto</title>" in response.read(4096)
    except (OSError, ValueError):  # no answer, an HTTP error status, or a malformed URL: not moto
        return False


def _installed_moto_version() -> str:
    try:
        return importlib.metadata.version("moto")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _is_loopback(endpoint_url: str | None) -> bool:
    host = urlsplit(endpoint_url).hostname if endpoint_url else None
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
