"""The import seam: the one module that names the Python gRPC client.

The adapter depends on ``esdbclient``. Its successor ``kurrentdbclient`` has the same calls under
other names (``KurrentDBClient``, exceptions ending in ``Error``) and cannot be installed beside it
(they pin different grpcio releases) nor imported in the same process (both register the same
protobuf symbols). ``EVENTSTORE_ESDB_CLIENT=kurrentdbclient`` selects it; nothing else changes.

The adapter uses only these calls, all public and present in both clients: ``append_to_stream``,
``get_stream``, ``read_all``, ``subscribe_to_all``, ``set_stream_metadata``, ``tombstone_stream``,
``reconnect`` (to the leader a not-leader error names) and ``close``; and, to ask the server its release
(``features.py``), the public attributes ``connection_target``, ``connection_spec`` and ``root_certificates``.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from typing import Any

from ..errors import InvalidInput, StoreUnavailable

CLIENT_ENV = "EVENTSTORE_ESDB_CLIENT"
#: Package -> its client class. The first is the default.
CLIENTS = {"esdbclient": "EventStoreDBClient", "kurrentdbclient": "KurrentDBClient"}


@dataclass(frozen=True)
class ClientAPI:
    """The few names the adapter takes from a client package."""

    package: str
    version: str
    client_class: Any
    NewEvent: Any
    StreamState: Any
    #: The server answered WrongExpectedVersion (the message carries the current revision).
    WrongVersion: type[Exception]
    NotFound: type[Exception]
    StreamDeleted: type[Exception]
    #: Root of the client's own errors: anything else it raises is a connection or server problem.
    ClientError: type[Exception]
    #: The server did not do it, or its answer was lost: Unavailable, a deadline, the server's own timeout.
    Unavailable: type[Exception]
    DeadlineExceeded: type[Exception]
    Aborted: type[Exception]
    #: The node is not the leader (the error names the leader when the server said where it is).
    NotLeader: type[Exception]
    #: URL schemes the client accepts (``esdb`` for both; ``kurrentdb`` for the successor only).
    schemes: tuple[str, ...]

    @staticmethod
    def leader(error: Exception) -> str | None:
        """``host:port`` of the leader a not-leader error names (esdbclient: ``leader_grpc_target``;
        kurrentdbclient: ``host`` and ``port``), or None."""
        target = getattr(error, "leader_grpc_target", None)
        if target is None and getattr(error, "host", None) and getattr(error, "port", None):
            target = f"{error.host}:{error.port}"  # type: ignore[attr-defined]
        return target if isinstance(target, str) else None

    def connect(self, uri: str) -> Any:
        """A client for ``uri``. A single-host ``esdb://`` URI makes no call here; a bad URI is ``InvalidInput``."""
        try:
            return self.client_class(uri)
        except ValueError as exc:
            raise InvalidInput(f"{self.package} refuses the connection URI: {exc}") from None
        except self.ClientError as exc:  # discovery (+discover URIs) talks to the cluster here
            raise StoreUnavailable(f"cannot connect: {exc}") from exc


def load_client(package: str | None = None) -> ClientAPI:
    """The client ``package`` names, else ``$EVENTSTORE_ESDB_CLIENT``, else ``esdbclient``."""
    package = package or os.environ.get(CLIENT_ENV) or "esdbclient"
    if package not in CLIENTS:
        raise InvalidInput(f"{CLIENT_ENV} must be one of {sorted(CLIENTS)}, not {package!r}")
    try:
        root = importlib.import_module(package)
        errors = importlib.import_module(f"{package}.exceptions")
    except ImportError as exc:
        extra = "pip install 'eventstore-workbench[eventstoredb]'" if package == "esdbclient" else f"pip install {package}"
        raise StoreUnavailable(f"the EventStoreDB adapter needs {package} ({extra}): {exc}") from None

    def error(name: str) -> type[Exception]:  # kurrentdbclient renamed e.g. NotFound to NotFoundError
        return getattr(errors, name, None) or getattr(errors, f"{name}Error")

    return ClientAPI(
        package=package,
        version=importlib_metadata.version(package),
        client_class=getattr(root, CLIENTS[package]),
        NewEvent=root.NewEvent,
        StreamState=root.StreamState,
        WrongVersion=error("WrongCurrentVersion"),
        NotFound=error("NotFound"),
        StreamDeleted=error("StreamIsDeleted"),
        ClientError=getattr(errors, "EventStoreDBClientException", None) or errors.KurrentDBClientError,
        Unavailable=error("ServiceUnavailable"),
        DeadlineExceeded=error("DeadlineExceeded"),
        Aborted=error("AbortedByServer"),
        NotLeader=error("NodeIsNotLeader"),
        schemes=("esdb", "esdb+discover") + (("kurrentdb", "kurrentdb+discover", "kdb", "kdb+discover") if package == "kurrentdbclient" else ()),
    )
