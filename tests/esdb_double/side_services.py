"""The two calls beyond ``Streams`` that a client makes of the double.

``ServerFeatures.GetSupportedMethods`` is how a server tells its release; the double's release string
says what it is, "protocol double", so an engine that reaches it is never taken for the product (the
adapter reads it: ``eventstore/eventstoredb/features.py``, whose message declaration this uses).
``PersistentSubscriptions.List`` answers NOT_FOUND, as the server does when no subscription group exists
(``Services/Transport/Grpc/PersistentSubscriptions.Info.cs``, ``PersistentSubscriptionDoesNotExist``):
the double hosts none, and every other persistent-subscription call is left unimplemented.
"""
from __future__ import annotations

from typing import Any

import grpc

from eventstore.eventstoredb.features import METHOD, SERVICE, SupportedMethod, SupportedMethods

from .stubs import persistent_pb2_grpc

#: What the double answers for the server's release.
VERSION = "protocol double (tests/esdb_double): not EventStoreDB or KurrentDB"
_STREAMS = "event_store.client.streams.streams"
_METHODS = [
    SupportedMethod(method_name=name, service_name=_STREAMS, features=features)
    for name, features in (("read", ["position", "events"]), ("append", []), ("batchappend", ["deadline_duration"]), ("delete", []), ("tombstone", []))
]


def server_features() -> grpc.GenericRpcHandler:
    def get_supported_methods(request: Any, context: grpc.ServicerContext) -> Any:
        return SupportedMethods(methods=_METHODS, event_store_server_version=VERSION)

    handler = grpc.unary_unary_rpc_method_handler(get_supported_methods, request_deserializer=lambda data: data,  # an event_store.client.Empty: nothing to read
                                                  response_serializer=lambda message: message.SerializeToString())
    return grpc.method_handlers_generic_handler(SERVICE, {METHOD: handler})


class NoPersistentSubscriptions(persistent_pb2_grpc.PersistentSubscriptionsServicer):  # type: ignore[misc]
    def List(self, request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(grpc.StatusCode.NOT_FOUND, "Subscription group  on stream $all does not exist.")
