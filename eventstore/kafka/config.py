"""Where a Kafka store lives: brokers and security settings, and the names it derives from its prefix.

``kafka://host:port[,host:port...]?prefix=NAME[&mode=fenced|naive][&version=X.Y.Z][&flush_messages=N]``.
Without a host the bootstrap servers come from ``EVENTSTORE_KAFKA_BOOTSTRAP``. ``flush_messages``
sets the events topic's ``flush.messages`` when the store creates it (1: the broker fsyncs the log
after every message before it answers; without it, the broker's default, it leaves flushing to the OS). Security settings come only from the
environment (``SECURITY_ENV``), so no secret ends up in a URL that is recorded with results.
``version`` is the broker's release, which the Kafka protocol does not reveal: the launcher that
started the broker passes it on, otherwise the store reports "unknown".
"""
from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import InvalidInput

BOOTSTRAP_ENV = "EVENTSTORE_KAFKA_BOOTSTRAP"
#: Environment variable -> librdkafka setting, passed through unchanged.
SECURITY_ENV = {
    "EVENTSTORE_KAFKA_SECURITY_PROTOCOL": "security.protocol",
    "EVENTSTORE_KAFKA_SASL_MECHANISM": "sasl.mechanism",
    "EVENTSTORE_KAFKA_SASL_USERNAME": "sasl.username",
    "EVENTSTORE_KAFKA_SASL_PASSWORD": "sasl.password",
}
#: ``fenced``: one writer at a time per prefix, enforced by the broker. ``naive``: check-then-append.
MODES = ("fenced", "naive")
#: librdkafka's own log lines go to Python logging on this logger, never to the process's stderr.
CLIENT_LOG = logging.getLogger("eventstore.kafka.client")
CLIENT_LOG.addHandler(logging.NullHandler())
#: Where a fenced-mode writer's lines about losing the fence go, at DEBUG (see ``ClientLog``).
FENCE_LOG = logging.getLogger("eventstore.kafka.client.fence")
#: What librdkafka says when another producer took the transactional id (the fence), or was taking it
#: at the same moment: PRODUCER_FENCED / INVALID_PRODUCER_EPOCH ("old epoch") / CONCURRENT_TRANSACTIONS.
FENCING = re.compile(
    r"fenced by a newer instance|old epoch|PRODUCER_FENCED|INVALID_PRODUCER_EPOCH|_FENCED\b"
    r"|CONCURRENT_TRANSACTIONS|concurrent operation on the same transaction",
    re.IGNORECASE,
)


class ClientLog:
    """The ``logger`` of every librdkafka client of the store; librdkafka calls
    ``log(level, "%s [%s] %s", facility, client, text)`` while the client is polled.

    A line keeps librdkafka's level (syslog 0-2 CRITICAL, 3 ERROR, 4 WARNING, 5-6 INFO, 7 DEBUG) on
    ``eventstore.kafka.client``, with one exception. A fenced-mode writer that loses the fence to
    another store instance logs it as a fatal error of its producer, at CRITICAL (and its failed
    requests at ERROR and WARNING): that is how instances take turns, which the append handles
    (it takes the fence again; ``WriterFenced`` after 10 losses in a row), so those lines go to
    ``eventstore.kafka.client.fence`` at DEBUG. The same lines from a naive-mode writer, whose
    transactional id is its own, keep their level: there nobody should fence it.
    """

    def __init__(self, fencing_expected: bool = False) -> None:
        self.fencing_expected = fencing_expected

    def log(self, level: int, msg: str, *args: Any) -> None:
        if self.fencing_expected and level > logging.DEBUG and FENCING.search(msg % args if args else msg):
            FENCE_LOG.debug(msg, *args)
        else:
            CLIENT_LOG.log(level, msg, *args)


_LOGS = {False: ClientLog(), True: ClientLog(fencing_expected=True)}

#: Seconds any single broker request may take before it fails with ``BrokerError``.
TIMEOUT_S = 30.0
#: librdkafka's longest pause between attempts to reconnect to a broker (its default: 10 s). Its
#: backoff doubles from 100 ms while a broker is down, so after a restart of 10 s a client could wait
#: seconds more before it tried again; 1 s bounds that, at the cost of one attempt a second to a
#: broker that is down. It changes nothing about what is written or acknowledged.
RECONNECT_BACKOFF_MAX_MS = 1000
_PREFIX = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}")  # topic names: 249 chars of [A-Za-z0-9._-]
_OPTIONS = {"prefix", "mode", "version", "flush_messages"}


@dataclass(frozen=True)
class KafkaConfig:
    """Everything needed to connect; the names of topics, groups and transactional ids follow from ``prefix``."""

    bootstrap: str
    prefix: str = "eventstore"
    mode: str = "fenced"
    version: str = "unknown"
    security: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: The events topic's ``flush.messages`` when this store creates it; None: the broker's default.
    flush_messages: int | None = None

    def __post_init__(self) -> None:
        if not _PREFIX.fullmatch(self.prefix):
            raise InvalidInput(f"Kafka prefix must be 1-200 characters of [A-Za-z0-9._-], not starting with '.': {self.prefix!r}")
        if self.mode not in MODES:
            raise InvalidInput(f"Kafka mode must be one of {MODES}, not {self.mode!r}")
        if self.flush_messages is not None and self.flush_messages < 1:
            raise InvalidInput(f"Kafka flush_messages must be a whole number >= 1, not {self.flush_messages!r}")

    @classmethod
    def from_url(cls, url: str, environ: Mapping[str, str] = os.environ) -> KafkaConfig:
        parts = urlsplit(url)
        if "@" in parts.netloc:
            raise InvalidInput("Kafka credentials come from EVENTSTORE_KAFKA_SASL_USERNAME/PASSWORD, not from the URL")
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = sorted(set(options) - _OPTIONS)
        if unknown:
            raise InvalidInput(f"unknown Kafka URL option(s) {unknown}; known: {sorted(_OPTIONS)}")
        bootstrap = unquote(parts.netloc) or environ.get(BOOTSTRAP_ENV, "")
        if not bootstrap:
            raise InvalidInput(f"no Kafka bootstrap servers: put host:port in the URL or set {BOOTSTRAP_ENV}")
        version = options.get("version", "unknown").removeprefix("Apache Kafka").strip() or "unknown"
        security = {setting: environ[var] for var, setting in SECURITY_ENV.items() if environ.get(var)}
        flush = options.get("flush_messages")
        if flush is not None and not flush.isdigit():
            raise InvalidInput(f"Kafka flush_messages must be a whole number >= 1, not {flush!r}")
        return cls(bootstrap, options.get("prefix", "eventstore"), options.get("mode", "fenced"), version, security,
                   int(flush) if flush is not None else None)

    @property
    def events_topic(self) -> str:
        return f"{self.prefix}.events"

    @property
    def snapshots_topic(self) -> str:
        return f"{self.prefix}.snapshots"

    @property
    def reader_group(self) -> str:
        """librdkafka consumers need a group id; readers only ``assign()``, so this group never has members or offsets."""
        return f"{self.prefix}.readers"

    def checkpoint_group(self, name: str) -> str:
        """The consumer group whose committed offset is subscription ``name``'s checkpoint."""
        return f"{self.prefix}.checkpoint.{name}"

    @property
    def writer_id(self) -> str:
        """The ``transactional.id`` of writers. Fenced: one per prefix, so a new writer fences the last;
        naive: a prefix for one id per instance, so writers never meet."""
        return f"{self.prefix}.writer"

    def transactional_id(self) -> str:
        return self.writer_id if self.mode == "fenced" else f"{self.writer_id}.{uuid.uuid4()}"

    def client(self, settings: Mapping[str, Any] | None = None, *, writer: bool = False) -> dict[str, Any]:
        """librdkafka settings for one client: connection and security, its logger, then ``settings``.
        ``writer``: the client is the fenced writer's producer (its fence losses are expected in fenced mode)."""
        logger = _LOGS[writer and self.mode == "fenced"]
        return {"bootstrap.servers": self.bootstrap, **self.security, "logger": logger, "socket.nagle.disable": True,
                "reconnect.backoff.max.ms": RECONNECT_BACKOFF_MAX_MS, **(settings or {})}
