"""``esdb://host:2113?Tls=false&prefix=NAME``: the event store API on EventStoreDB / KurrentDB; see README.md here."""
from .capabilities import CAPABILITIES, capabilities
from .client import CLIENT_ENV, ClientAPI, load_client
from .config import URI_ENV, ESDBConfig
from .store import EventStoreDBStore, StreamDeleted, UnreadableEvent

__all__ = [
    "CAPABILITIES", "CLIENT_ENV", "ClientAPI", "ESDBConfig", "EventStoreDBStore", "StreamDeleted", "URI_ENV",
    "UnreadableEvent", "capabilities", "load_client",
]
