"""The server's release, from its gRPC ``ServerFeatures.GetSupportedMethods``.

Neither Python client ships that service's stubs, so its two messages are declared here from
``serverfeatures.proto`` (``src/Protos/Grpc/serverfeatures.proto`` of kurrent-io/KurrentDB, unchanged
since EventStoreDB 20.6): ``SupportedMethods { repeated SupportedMethod methods = 1; string
event_store_server_version = 2; }``. The server fills the version with its release ("24.10.0"; see
``Services/Transport/Grpc/ServerFeatures.cs``); the request is ``event_store.client.Empty``, no bytes.
"""
from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory  # type: ignore[import-untyped]

PACKAGE = "event_store.client.server_features"
SERVICE = f"{PACKAGE}.ServerFeatures"
METHOD = "GetSupportedMethods"


def _declare() -> tuple[Any, Any]:
    """The message classes ``SupportedMethods`` and ``SupportedMethod``, in a pool of their own (the
    clients' protos share the default pool, where these names must not collide with a future stub)."""
    f = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="eventstore_workbench/serverfeatures.proto", package=PACKAGE, syntax="proto3")
    method = proto.message_type.add(name="SupportedMethod")
    method.field.add(name="method_name", number=1, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    method.field.add(name="service_name", number=2, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    method.field.add(name="features", number=3, type=f.TYPE_STRING, label=f.LABEL_REPEATED)
    methods = proto.message_type.add(name="SupportedMethods")
    methods.field.add(name="methods", number=1, type=f.TYPE_MESSAGE, label=f.LABEL_REPEATED, type_name=f".{PACKAGE}.SupportedMethod")
    methods.field.add(name="event_store_server_version", number=2, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    found = (pool.FindMessageTypeByName(f"{PACKAGE}.{name}") for name in ("SupportedMethods", "SupportedMethod"))
    supported_methods, supported_method = (message_factory.GetMessageClass(d) for d in found)
    return supported_methods, supported_method


SupportedMethods, SupportedMethod = _declare()


def server_version(client: Any, timeout: float) -> str | None:
    """The release the server at ``client``'s target reports, or None when it does not say (a server before
    20.6, or one that refuses the call).

    A channel of its own, built from the client's public settings: the clients expose no raw channel."""
    target = client.connection_target
    if client.connection_spec.options.Tls:
        channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=client.root_certificates))
    else:
        channel = grpc.insecure_channel(target)
    call = channel.unary_unary(f"/{SERVICE}/{METHOD}", request_serializer=lambda _: b"", response_deserializer=SupportedMethods.FromString)
    try:
        return str(call(None, timeout=timeout).event_store_server_version) or None
    except grpc.RpcError:
        return None
    finally:
        channel.close()
