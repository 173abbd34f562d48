"""The Kafka engines: the fenced adapter and its naive (check-then-append) variant, on one broker."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..plugins import ComposeService, Deployment, DurabilitySetting, Engine, EnvVar, Servers
from ..store import EventStore
from .config import BOOTSTRAP_ENV, SECURITY_ENV

if TYPE_CHECKING:  # the server module needs confluent_kafka, which this module must not import
    from .server import KafkaBroker

#: What the harness can say about an external broker's release: the Kafka protocol does not reveal it
#: (ApiVersions lists protocol versions, and no broker config names the release).
EXTERNAL_VERSION = "unknown (external broker)"


class KafkaEngine(Engine):
    schemes: tuple[str, ...] = ("kafka",)
    url_form = "kafka://host:port[,host:port]?prefix=NAME&mode=fenced|naive&version=X.Y.Z&flush_messages=N"
    env = (
        EnvVar(BOOTSTRAP_ENV, "bootstrap servers of an existing broker instead of starting a throwaway one"),
        *(EnvVar(name, f"librdkafka {setting}", secret="PASSWORD" in name) for name, setting in SECURITY_ENV.items()),
    )
    packages = ("confluent-kafka",)
    docs = Path(__file__).with_name("README.md")
    compose = ComposeService("kafka", 9092, {BOOTSTRAP_ENV: "127.0.0.1:9092"})
    conformance = "eventstore.kafka.conformance:KafkaConformance"
    raw_path = "eventstore.kafka.raw:KafkaRawPath"  # the naive mode too: same topic, same raw path
    #: One broker and no fsync per message: an acknowledged append lives in the page cache until the OS
    #: writes it back, which a power loss can lose (a process crash cannot). ``log.flush.interval.messages=1``
    #: makes the broker fsync every log before it answers each message, its transaction coordinator's
    #: own log included (a topic's ``flush.messages`` alone left the coordinator forgetting a transaction
    #: the events log kept, which blocked the partition for good after a power cut), so it is declared
    #: durable, and the faults workload's power cuts check that claim. A broker setting: only a broker of
    #: its own takes it, never the run's shared one.
    durability_settings: tuple[DurabilitySetting, ...] = (
        DurabilitySetting("defaults", "defaults (no fsync per message)", False, "", (("flush.messages", str(2**63 - 1)),)),
        DurabilitySetting("fsync-per-message", "log.flush.interval.messages=1 (broker)", True, "", (("flush.messages", "1"),),
                          server=(("log.flush.interval.messages", "1"),)),
    )

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.name = "kafka" if mode == "fenced" else f"kafka-{mode}"
        self.rank = 30 if mode == "fenced" else 31
        if mode == "fenced":
            self.description = "Kafka adapter against a throwaway single-node broker (fenced writers: one at a time per prefix)"
        else:
            self.description = "Kafka adapter without the writer fence (check-then-append): loses updates under concurrent writers"
            self.schemes = ()  # its URLs are kafka://...&mode=naive, opened by the same factory
            self.durability_settings = self.durability_settings[:1]  # it exists to show the naive write path, not settings

    def open_store(self, url: str) -> EventStore:
        from .store import KafkaStore

        return KafkaStore.from_url(url)

    def broker(self, servers: Servers) -> tuple[str, str, dict[str, Any]]:
        """Bootstrap servers, release and settings of the run's broker: ``$EVENTSTORE_KAFKA_BOOTSTRAP``
        or a throwaway broker, started once per run and shared by both modes."""
        bootstrap = os.environ.get(BOOTSTRAP_ENV)
        if bootstrap:
            return bootstrap, EXTERNAL_VERSION, {"broker": f"external ({BOOTSTRAP_ENV})"}
        broker = self.throwaway(servers)
        return broker.bootstrap_servers, broker.version, {"broker": f"throwaway single-node {broker.version} (KRaft)"}

    def throwaway(self, servers: Servers) -> KafkaBroker:
        """The run's throwaway broker, started on first use (with ``servers.server_settings``)."""
        from .server import KafkaBroker

        options = ",".join(f"{k}={v}" for k, v in sorted(servers.server_settings.items()))
        return servers.get("kafka" + (f"-{options}" if options else ""), lambda: KafkaBroker(base_dir=servers.workdir, settings=servers.server_settings).start())

    @contextmanager
    def deploy(self, servers: Servers) -> Iterator[Deployment]:
        bootstrap, version, settings = self.broker(servers)
        options = f"mode={self.mode}&version={quote(version, safe='')}"
        external = bool(os.environ.get(BOOTSTRAP_ENV))
        settings |= {"process": "external server", "durability": "as configured"} if external else {"process": "local server", "durability": "no fsync per commit (page cache)"}
        created: list[str] = []

        def make_url(label: str) -> str:
            created.append(f"kafka://{bootstrap}?prefix={label}&{options}")
            return created[-1]

        with Deployment(
            self, make_url, settings={**settings, "mode": self.mode},
            server=None if external else self.throwaway(servers),
            no_crash_reason=f"external broker ({BOOTSTRAP_ENV}): the run did not start it, so it does not crash it" if external else None,
        ) as deployment:
            try:
                yield deployment
            except KeyboardInterrupt:
                # Ctrl-C reached the throwaway broker too (it shuts down on SIGINT), and its temp dir
                # goes with the run: dropping each store would only wait out the broker timeout, 30 s
                # per request. An external broker keeps its stores, so they are dropped there.
                if not external:
                    for url in created:
                        deployment.release(url)
                raise


FENCED = KafkaEngine("fenced")
NAIVE = KafkaEngine("naive")
