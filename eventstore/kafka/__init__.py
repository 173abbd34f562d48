"""``kafka://host:port?prefix=NAME``: the event store API on a Kafka partition; see ``docs/kafka.md``."""
from .capabilities import FENCED, NAIVE
from .config import BOOTSTRAP_ENV, SECURITY_ENV, KafkaConfig
from .errors import BrokerError, UnreadableRecord, WriterFenced
from .store import KafkaStore

__all__ = ["BOOTSTRAP_ENV", "BrokerError", "FENCED", "KafkaConfig", "KafkaStore", "NAIVE", "SECURITY_ENV", "UnreadableRecord", "WriterFenced"]
