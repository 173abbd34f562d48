"""A protocol test double of EventStoreDB / KurrentDB: a small gRPC server speaking the ``Streams`` RPCs
the client's stream API uses, with the client's own generated stubs (imported from ``esdbclient``, or
``kurrentdbclient`` where that is the client in use; never copied), over an in-memory log.

Its rules are the server's, ported from the server's source and cited where they live: ``log.py`` (the
expected-version and idempotency check, soft delete and tombstone, reads), ``subscriptions.py``
(catch-up subscriptions with checkpoints and caught-up), ``service.py`` (the answers and errors as the
server sends them). ``faults.py`` makes it fail on demand as a server in trouble does.
``tests/test_esdb_client_suite.py`` runs the client's own stream tests against it.

What passing against it proves: the adapter, through the real client library, speaks the protocol
correctly and copes with the server's failures. What it does not prove: anything about the server beyond
the rules ported here, its durability, its behaviour under load or in a cluster, or its speed. It names
itself ("protocol double" in its release, ``side_services.py``) and is never a benchmark target.
"""
from __future__ import annotations

from concurrent import futures

import grpc

from .faults import Faults
from .log import Log
from .service import StreamsDouble
from .side_services import VERSION, NoPersistentSubscriptions, server_features
from .stubs import persistent_pb2_grpc, streams_pb2_grpc

__all__ = ["VERSION", "ESDBDouble", "Faults", "Log", "StreamsDouble"]


class ESDBDouble:
    """``with ESDBDouble() as double: open_store(f"{double.uri}&prefix=...")`` (insecure, loopback only).

    ``double.faults`` arms server-side failures; ``log`` shares one log between doubles (a leader and a
    follower that answers "not leader")."""

    def __init__(self, max_append_size: int = 1_048_576, workers: int = 32, log: Log | None = None) -> None:
        self.log = log or Log()
        self.faults = Faults()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="esdb-double"))
        streams_pb2_grpc.add_StreamsServicer_to_server(StreamsDouble(self.log, self.faults, max_append_size), self._server)
        persistent_pb2_grpc.add_PersistentSubscriptionsServicer_to_server(NoPersistentSubscriptions(), self._server)
        self._server.add_generic_rpc_handlers((server_features(),))
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.uri = f"esdb://127.0.0.1:{self.port}?Tls=false"

    def start(self) -> ESDBDouble:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=None).wait(5)

    def __enter__(self) -> ESDBDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
