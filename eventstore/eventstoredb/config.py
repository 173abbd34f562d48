"""Where an EventStoreDB store lives: the server, the stream-name prefix, and the names derived from it.

``esdb://host:2113?Tls=false&prefix=NAME`` names the server and the store. Without a host
(``esdb://?prefix=NAME``) the connection comes from ``EVENTSTORE_ESDB_URI``, a full client URI with
its TLS settings and, if the server is secure, its credentials: credentials never appear in a
store URL, so none is recorded with results. Options the client understands (``Tls``,
``TlsVerifyCert``, ``TlsCaFile``, ``NodePreference``, ...) pass through; the adapter's own are:

- ``prefix``: every stream of the store is named ``<prefix>.<stream id>``, and reads of ``$all`` are
  scoped to ``^<prefix>\\.`` by the server's stream-name filter, so stores with different prefixes
  never see each other's events. Without a prefix the store is the whole database.
- ``version``: the server's release, reported with results (the gRPC API does not tell a client).
- ``max_append_size``: the server's ``MaxAppendSize`` when it is not the default 1,048,576 bytes.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import InvalidInput

URI_ENV = "EVENTSTORE_ESDB_URI"
DEFAULT_URI = "esdb://127.0.0.1:2113?Tls=false"
#: The server's default ``MaxAppendSize``: the largest append in bytes (data + metadata + 2 x type length).
DEFAULT_MAX_APPEND_SIZE = 1_048_576
#: Seconds any single call may take before it fails with ``StoreUnavailable``.
TIMEOUT_S = 30.0
#: Snapshots kept per aggregate (the snapshot stream's ``$maxCount``): room for a few schema versions.
SNAPSHOTS_KEPT = 8
_PREFIX = re.compile(r"[A-Za-z0-9_-]{1,100}")
_OWN_OPTIONS = {"prefix", "version", "max_append_size"}
#: The name of internal streams in a store without a prefix.
_UNPREFIXED_BASE = "eventstore"


@dataclass(frozen=True)
class ESDBConfig:
    """The connection URI handed to the client, and the store's naming scheme."""

    uri: str
    prefix: str = ""
    version: str = "unknown"
    max_append_size: int = DEFAULT_MAX_APPEND_SIZE

    def __post_init__(self) -> None:
        if self.prefix and not _PREFIX.fullmatch(self.prefix):
            raise InvalidInput(f"EventStoreDB prefix must be 1-100 characters of [A-Za-z0-9_-], not {self.prefix!r}")

    @classmethod
    def from_url(cls, url: str, environ: Mapping[str, str] = os.environ) -> ESDBConfig:
        parts = urlsplit(url)
        if "@" in parts.netloc:
            raise InvalidInput(f"EventStoreDB credentials come from {URI_ENV}, not from the store URL")
        query = parse_qsl(parts.query, keep_blank_values=True)
        own = {k: v for k, v in query if k in _OWN_OPTIONS}
        passed = [(k, v) for k, v in query if k not in _OWN_OPTIONS]
        if parts.hostname:
            scheme = re.sub(r"^(kurrentdb|kdb)", "esdb", parts.scheme)  # both clients read esdb://
            uri = urlunsplit((scheme, parts.netloc, "", urlencode(passed), ""))
        else:
            uri = environ.get(URI_ENV) or DEFAULT_URI
            if passed:
                uri = _with_options(uri, passed)
        try:
            max_append = int(own.get("max_append_size", DEFAULT_MAX_APPEND_SIZE))
        except ValueError:
            raise InvalidInput(f"max_append_size must be an int, not {own['max_append_size']!r}") from None
        return cls(uri, own.get("prefix", ""), own.get("version") or "unknown", max_append)

    # -- names -----------------------------------------------------------------------------------

    def stream_name(self, stream_id: str) -> str:
        return f"{self.prefix}.{stream_id}" if self.prefix else stream_id

    def stream_id(self, stream_name: str) -> str | None:
        """The API's stream id of a server stream name, or None when it is not one of the store's event
        streams (another prefix's, or the store's own checkpoints and snapshots)."""
        if not self.prefix:
            return None if stream_name.startswith(f"{_UNPREFIXED_BASE}~") else stream_name
        head = f"{self.prefix}."
        return stream_name[len(head):] if stream_name.startswith(head) else None

    @property
    def _base(self) -> str:
        return self.prefix or _UNPREFIXED_BASE

    def checkpoint_stream(self, name: str) -> str:
        """One stream per subscription, ``$maxCount`` 1: its only event is the checkpoint."""
        return f"{self._base}~checkpoint.{name}"

    def snapshot_stream(self, stream_id: str) -> str:
        """One stream per aggregate, ``$maxCount`` ``SNAPSHOTS_KEPT``."""
        return f"{self._base}~snapshots.{stream_id}"

    @property
    def snapshot_streams_regex(self) -> str:
        return literal(f"{self._base}~snapshots.") + ".*"

    @property
    def store_streams_regex(self) -> str | None:
        """Every stream the store writes (events, snapshots, checkpoints); None without a prefix."""
        return f"{literal(self.prefix)}[.~].*" if self.prefix else None

    def events_regex(self, categories: list[str] | None) -> str | None:
        """The server-side stream-name filter for ``read_all``: the store's scope and the categories."""
        head = literal(f"{self.prefix}.") if self.prefix else ""
        if categories is None:
            return f"{head}.*" if self.prefix else None
        alternatives = "|".join(literal(c) for c in categories)
        return f"{head}(?:{alternatives})(?:-.*)?"

    # -- reporting -------------------------------------------------------------------------------

    @property
    def safe_uri(self) -> str:
        """The connection URI without user info: what may be recorded with results."""
        parts = urlsplit(self.uri)
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, host, parts.path, parts.query, ""))

    def summary(self) -> dict[str, Any]:
        return {
            "connection": self.safe_uri,
            "prefix": self.prefix or "(none: the whole database)",
            "max_append_size": self.max_append_size,
        }


def literal(text: str) -> str:
    """``text`` as a regular expression both .NET (the server) and Python (the test double) read the
    same way: ASCII punctuation as ``\\xHH``, letters, digits and non-ASCII characters as themselves."""
    return "".join(c if c.isalnum() or c == "_" or ord(c) > 127 else f"\\x{ord(c):02x}" for c in text)


def _with_options(uri: str, options: list[tuple[str, str]]) -> str:
    parts = urlsplit(uri)
    merged = dict(parse_qsl(parts.query, keep_blank_values=True))
    merged.update(options)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(merged), parts.fragment))
