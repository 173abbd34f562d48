"""A protocol test double of EventStoreDB: a small gRPC server speaking the ``Streams`` RPCs the
adapter uses, with the client's own generated stubs (imported from ``esdbclient``, or ``kurrentdbclient`` where
that is the client in use; never copied),
over an in-memory log.

What passing against it proves: the adapter, through the real client library, speaks the protocol
correctly (requests, the server's answers and errors as the server sends them, positions that are
byte offsets with gaps, subscriptions that confirm first). What it does not prove: anything about
the server's own semantics beyond the rules written down in ``log.py``, its durability, its
behaviour under load or in a cluster, or its speed. It is a test fixture, never a benchmark target.
"""
from __future__ import annotations

from concurrent import futures

import grpc

from .log import Log
from .service import StreamsDouble
from .stubs import streams_pb2_grpc

__all__ = ["ESDBDouble", "Log", "StreamsDouble"]


class ESDBDouble:
    """``with ESDBDouble() as double: open_store(f"{double.uri}&prefix=...")`` (insecure, loopback only)."""

    def __init__(self, max_append_size: int = 1_048_576, workers: int = 32) -> None:
        self.log = Log()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="esdb-double"))
        streams_pb2_grpc.add_StreamsServicer_to_server(StreamsDouble(self.log, max_append_size), self._server)
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
