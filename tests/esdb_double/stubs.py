"""The client's own generated gRPC stubs, imported from the installed client package (never copied):
esdbclient's, or kurrentdbclient's when ``EVENTSTORE_ESDB_CLIENT`` selects that client."""
from __future__ import annotations

import importlib
import os
from typing import Any

_MODULES = {
    "esdbclient": ("esdbclient.protos.Grpc", "esdbclient.protos.Grpc.code_pb2"),
    "kurrentdbclient": ("kurrentdbclient.protos.v1", "kurrentdbclient.protos.google.rpc.code_pb2"),
}
PACKAGE = os.environ.get("EVENTSTORE_ESDB_CLIENT") or "esdbclient"
_base, _code = _MODULES[PACKAGE]


def _load(name: str) -> Any:
    return importlib.import_module(f"{_base}.{name}")


streams_pb2: Any = _load("streams_pb2")
streams_pb2_grpc: Any = _load("streams_pb2_grpc")
persistent_pb2_grpc: Any = _load("persistent_pb2_grpc")
shared_pb2: Any = _load("shared_pb2")
status_pb2: Any = _load("status_pb2")
code_pb2: Any = importlib.import_module(_code)
