"""Throwaway single-node Apache Kafka brokers for tests and benchmarks.

A ``KafkaBroker`` is a real broker (``kafka.Kafka`` from the official jars), not
an emulator: one JVM in KRaft combined mode (broker and controller, node 1,
static single-voter quorum) on free ports of 127.0.0.1, with its log dirs,
config and log in a fresh temp dir that ``stop()`` (also run at interpreter
exit) deletes again; the lifecycle is ``eventstore.servers.Server``'s.

The jars come from Maven Central: ``maven/kafka-pom.xml`` (next to this module) is resolved
once with ``mvn dependency:copy-dependencies`` into
``$XDG_CACHE_HOME/eventstore-workbench/kafka-<version>-<pom digest>/`` (default
``~/.cache``), so only the first start downloads; editing the pom re-resolves.

Broker settings worth knowing when reading benchmark numbers:

* ``auto.create.topics.enable=false``: adapters must create their topics (with
  the partition count they mean); a typo then fails instead of silently making
  a new topic.
* ``num.partitions`` (constructor ``partitions``) is used for topics created
  without an explicit partition count.
* Internal topics (consumer offsets, transaction state, share-group state) have
  replication factor 1 and min ISR 1, since there is only one broker.
* Connection cuts (the faults workload): a Kafka client connects to the addresses the broker
  advertises, not to the bootstrap address it was given, so a proxy in front of the bootstrap
  address alone carries only the first request. ``advertise()`` adds a second listener,
  ``PROXIED`` (plaintext, on its own port), whose advertised address is the proxy's, and restarts
  the broker on the same data (SIGKILL, as a crash: a clean shutdown of this combined broker took
  up to 20 s here, and the page cache keeps everything acknowledged): a client that bootstraps through the proxy, which forwards
  to that listener, is then told to connect to the proxy again, so every connection goes through it
  (the usual way to put Toxiproxy in front of Kafka). The ``PLAINTEXT`` listener keeps advertising
  itself for every other client; restarts after a crash keep both.
* The JVM runs with the flags of ``kafka-server-start.sh`` (1 GiB heap, G1), not
  with start-up tweaks: ``-XX:TieredStopAtLevel=1`` saved ~0.35 s of a ~1.8 s
  start here but would cap the JIT for the whole benchmark, and
  ``-XX:+UseSerialGC`` saved nothing.
* One start-up aid that changes nothing once the broker runs: application class-data
  sharing (AppCDS). The first broker started with a given JVM and jars records the
  classes it loads (``-XX:DumpLoadedClassList``); once it answers, they are archived
  (``java -Xshare:dump``, ~10-40 s, once per machine) next to the cached jars, and every
  later start maps the archive (``-XX:SharedArchiveFile``) instead of loading and
  verifying ~7,000 classes from the jars. A start or a restart after a crash (what the
  faults workload's ``restart_time`` measures) then takes ~5 s of CPU instead of ~9
  (on 2 busy cores: ~10 s instead of ~15). The JVM ignores an archive that does not
  match it; a failed dump leaves the broker as it was.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tempfile
import uuid
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Mapping
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from ..servers import Server, ServiceUnavailable, free_port, port_accepts
from .config import BOOTSTRAP_ENV

POM = Path(__file__).parent / "maven" / "kafka-pom.xml"
_POM_NS = "{http://maven.apache.org/POM/4.0.0}"
RESOLVE_TIMEOUT_S = 900
FORMAT_TIMEOUT_S = 60
ARCHIVE_TIMEOUT_S = 180
# As kafka-server-start.sh and kafka-run-class.sh set them, so the broker behaves like a stock one.
_BROKER_JVM_OPTS = (
    "-Xms1g",
    "-Xmx1g",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
)
_TOOL_JVM_OPTS = ("-Xmx256m", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true")
# Everything to stdout, which goes to the server's log.
_LOG4J2_PROPERTIES = """\
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
"""


def _cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "eventstore-workbench"


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:]) or "<no output>"


def find_java() -> str:
    """The java launcher: ``$JAVA_HOME/bin/java`` if set, else ``java`` on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if candidate is None or not os.access(candidate, os.X_OK):
        raise ServiceUnavailable(
            f"no Java runtime found ({'JAVA_HOME=' + java_home if java_home else 'java is not on PATH'}); "
            f"Kafka 4.x needs Java 17+ (e.g. apt-get install openjdk-17-jre-headless), "
            f"or point tests at an existing broker with {BOOTSTRAP_ENV}"
        )
    return candidate


def runtime_lib_dir() -> Path:
    """Directory holding the broker's jars; resolved with Maven on first use, then cached.

    Maven writes into a staging dir that is renamed into place, so an interrupted
    or concurrent resolution never leaves a half-filled cache entry behind.
    """
    pom = POM.read_bytes()
    kafka_version = ET.fromstring(pom).findtext(f"{_POM_NS}properties/{_POM_NS}kafka.version")
    lib_dir = _cache_root() / f"kafka-{kafka_version}-{hashlib.sha256(pom).hexdigest()[:12]}"
    if lib_dir.is_dir():
        return lib_dir
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServiceUnavailable(
            f"Maven (mvn) is not on PATH, and the Kafka jars are not cached in {lib_dir}; "
            f"install it (e.g. apt-get install maven), or point tests at an existing broker with {BOOTSTRAP_ENV}"
        )
    find_java()  # Maven needs it too; fail with the clearer message.
    lib_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{lib_dir.name}.partial-", dir=lib_dir.parent))
    argv = [mvn, "-B", "-q", "-Dstyle.color=never", "-f", str(POM), "dependency:copy-dependencies",
            "-DincludeScope=runtime", f"-DoutputDirectory={staging}"]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=RESOLVE_TIMEOUT_S,
                                stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ServiceUnavailable(f"resolving the Kafka jars took over {RESOLVE_TIMEOUT_S}s: {' '.join(argv)}") from exc
    if result.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
        shutil.rmtree(staging, ignore_errors=True)
        raise ServiceUnavailable(
            f"resolving the Kafka jars failed (mvn exit {result.returncode}): {' '.join(argv)}\n"
            f"--- mvn output (tail) ---\n{_tail(result.stdout + result.stderr)}"
        )
    try:
        staging.rename(lib_dir)
    except OSError:  # a concurrent resolution got there first; its jars are as good as ours
        shutil.rmtree(staging, ignore_errors=True)
    return lib_dir


def jar_version(lib_dir: Path) -> str:
    """Version of the kafka-clients jar on the classpath, as AppInfoParser reads it at runtime."""
    jars = sorted(lib_dir.glob("kafka-clients-*.jar"))
    if len(jars) != 1:
        raise ServiceUnavailable(f"expected one kafka-clients jar in {lib_dir}, found {[j.name for j in jars]}")
    with zipfile.ZipFile(jars[0]) as jar:
        props = jar.read("kafka/kafka-version.properties").decode()
    for line in props.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "version":
            return value.strip()
    raise ServiceUnavailable(f"no version in kafka/kafka-version.properties of {jars[0]}")


def class_archive(java: str, lib_dir: Path) -> Path:
    """Where the AppCDS archive of the broker's classes for this JVM and these jars is cached (it
    may not exist yet): next to the jars, named after the JVM binary, which it must match."""
    real = Path(java).resolve()
    stat = real.stat()
    jvm = hashlib.sha256(f"{real}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    return lib_dir.parent / f"{lib_dir.name}.cds-{jvm}.jsa"


def _cluster_id() -> str:
    """A random cluster id as Kafka's Uuid prints it (22 chars of url-safe base64).

    Like ``Uuid.randomUuid`` we never return one starting with '-', which the
    StorageTool's argument parser would take for an option.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class KafkaBroker(Server):
    """A private single-node KRaft broker in a temp dir; ``partitions`` is the default topic size."""

    name = "kafka"

    def __init__(self, *, port: int | None = None, partitions: int = 4, base_dir: str | Path | None = None,
                 settings: Mapping[str, str] | None = None) -> None:
        super().__init__(base_dir=base_dir)
        #: Broker settings over the defaults below (a durability setting's, e.g. ``log.flush.interval.messages``).
        self.extra_settings = dict(settings or {})
        self.port = port
        self.controller_port: int | None = None
        #: The ``PROXIED`` listener's port and the proxy address it advertises (``advertise``).
        self.proxied_port: int | None = None
        self.proxy_address: str | None = None
        self.partitions = partitions
        self._java = ""
        self._lib_dir: Path | None = None
        self._archive: Path | None = None
        self._class_list: Path | None = None  # recorded on the first start when there is no archive yet
        self._admin: AdminClient | None = None

    @property
    def bootstrap_servers(self) -> str:
        self.require_started()
        return f"127.0.0.1:{self.port}"

    # -- Server ----------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Resolve the jars, pick ports, write the config and format fresh storage."""
        self._java = find_java()
        self._lib_dir = runtime_lib_dir()
        self._archive = class_archive(self._java, self._lib_dir)
        self._class_list = None if self._archive.is_file() else self.require_started() / "classes.list"
        self.version = f"Apache Kafka {jar_version(self._lib_dir)}"
        if self.port is not None and port_accepts(self.port):
            # Otherwise the readiness check could be answered by whatever already listens there.
            raise ServiceUnavailable(f"cannot start Kafka on 127.0.0.1:{self.port}: the port is already in use")
        self.port = self.port or free_port()
        self.controller_port = free_port()
        while self.controller_port == self.port:
            self.controller_port = free_port()
        self._write_config()
        self._format_storage()

    def command(self) -> list[str]:
        sharing: tuple[str, ...] = ()
        if self._archive is not None and self._archive.is_file():
            sharing = (f"-XX:SharedArchiveFile={self._archive}",)
        elif self._class_list is not None:
            sharing = (f"-XX:DumpLoadedClassList={self._class_list}",)
        return self._java_argv((*_BROKER_JVM_OPTS, *sharing), "kafka.Kafka", str(self.require_started() / "server.properties"))

    def ready(self) -> bool:
        """The broker lists itself in a metadata response: it is then unfenced and serving."""
        assert self.port is not None
        # Wait for the socket first: librdkafka would log every refused connection to stderr.
        if self._admin is None:
            if not port_accepts(self.port):
                return False
            self._admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
        try:
            return 1 in self._admin.list_topics(timeout=2).brokers
        except KafkaException:
            return False

    def started(self) -> None:
        self._admin = None  # the readiness client is not needed any more
        class_list, self._class_list = self._class_list, None
        if class_list is not None and class_list.is_file() and self._archive is not None and not self._archive.is_file():
            self._dump_archive(class_list, self._archive)

    def _dump_archive(self, class_list: Path, archive: Path) -> None:
        """Archive the classes the broker loaded up to now (see the module docstring). Written to a
        staging file renamed into place, so a concurrent or interrupted dump leaves no partial
        archive; a failure only means later starts load their classes from the jars, as this one did."""
        staging = archive.with_name(f"{archive.name}.partial-{uuid.uuid4().hex[:8]}")
        argv = [self._java, "-Xshare:dump", f"-XX:SharedClassListFile={class_list}", f"-XX:SharedArchiveFile={staging}",
                "-cp", f"{self._lib_dir}/*"]
        try:
            result = subprocess.run(argv, cwd=self.require_started(), capture_output=True, timeout=ARCHIVE_TIMEOUT_S,
                                    stdin=subprocess.DEVNULL)
            if result.returncode == 0 and staging.is_file():
                staging.rename(archive)
        except (OSError, subprocess.TimeoutExpired):
            pass
        finally:
            staging.unlink(missing_ok=True)

    def advertise(self, routes: Mapping[str, str]) -> dict[str, str] | None:
        """Send the clients that bootstrap through the proxy ``routes`` names for this broker's address
        through that proxy (see the module docstring): returns {broker address: the ``PROXIED``
        listener}, where the proxy must forward to. Restarts the broker (SIGKILL, then a start on the
        same data) unless it already advertises that proxy; {} if no route names this broker."""
        proxy = routes.get(self.bootstrap_servers)
        if proxy is None:
            return {}
        if proxy != self.proxy_address:
            taken = {self.port, self.controller_port}
            while self.proxied_port is None or self.proxied_port in taken:
                self.proxied_port = free_port()
            self.proxy_address = proxy
            self._write_config()
            self.kill()  # a clean shutdown of a combined broker can take 20 s here; a kill loses nothing acknowledged
            self.restart()
        return {self.bootstrap_servers: f"127.0.0.1:{self.proxied_port}"}

    def _write_config(self) -> None:
        tmp_dir = self.require_started()
        listeners = {"PLAINTEXT": f"127.0.0.1:{self.port}", "CONTROLLER": f"127.0.0.1:{self.controller_port}"}
        advertised = {"PLAINTEXT": f"127.0.0.1:{self.port}"}
        if self.proxied_port is not None and self.proxy_address is not None:
            listeners["PROXIED"], advertised["PROXIED"] = f"127.0.0.1:{self.proxied_port}", self.proxy_address
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": ",".join(f"{name}://{address}" for name, address in listeners.items()),
            "advertised.listeners": ",".join(f"{name}://{address}" for name, address in advertised.items()),
            "listener.security.protocol.map": ",".join(f"{name}:PLAINTEXT" for name in listeners),
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "log.dirs": str(tmp_dir / "data"),
            "num.partitions": str(self.partitions),
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            # One broker: one partition per internal topic instead of 50 makes the first group and
            # transaction requests of a run answer in milliseconds rather than after 1-2 s of setup.
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # A broker restarted after a crash waits until the controller has given up on its dead
            # incarnation: 2 s instead of the stock 9 s keeps a fault-injection restart short.
            "broker.session.timeout.ms": "2000",
            "broker.heartbeat.interval.ms": "500",
            **self.extra_settings,
        }
        (tmp_dir / "server.properties").write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        (tmp_dir / "log4j2.properties").write_text(_LOG4J2_PROPERTIES)

    def _java_argv(self, jvm_opts: tuple[str, ...], *main: str) -> list[str]:
        tmp_dir = self.require_started()
        return [self._java, *jvm_opts, f"-Dlog4j2.configurationFile={tmp_dir / 'log4j2.properties'}",
                "-cp", f"{self._lib_dir}/*", *main]

    def _format_storage(self) -> None:
        tmp_dir = self.require_started()
        argv = self._java_argv(_TOOL_JVM_OPTS, "kafka.tools.StorageTool", "format",
                               "--cluster-id", _cluster_id(), "--config", str(tmp_dir / "server.properties"))
        result = subprocess.run(argv, cwd=tmp_dir, capture_output=True, text=True, timeout=FORMAT_TIMEOUT_S,
                                stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise ServiceUnavailable(
                f"formatting Kafka storage failed (exit {result.returncode}): {' '.join(argv)}\n"
                f"--- output (tail) ---\n{_tail(result.stdout + result.stderr)}"
            )
