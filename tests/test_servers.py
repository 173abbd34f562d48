"""The engine servers (``eventstore.servers.Server`` and its subclasses) start real processes, hand
out working endpoints, survive a crash on their data, and clean up after themselves."""

from __future__ import annotations

import os
import time

import psycopg
import pytest

from eventstore.dynamodb.server import MotoServer
from eventstore.plugins import Servers
from eventstore.postgres.engine import REFERENCE
from eventstore.postgres.server import PostgresServer
from eventstore.servers import port_accepts


def test_postgres_server_lifecycle() -> None:
    server = PostgresServer(durable=False).start()
    try:
        tmp_dir, port = server.tmp_dir, server.port
        assert tmp_dir is not None and port is not None
        with psycopg.connect(server.dsn) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        assert server.version.startswith("PostgreSQL ")
        assert server.settings_summary() == {
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "128MB",
            "max_connections": "200",
        }
        with psycopg.connect(server.create_database("events-db")) as conn:
            assert conn.execute("select current_database()").fetchone() == ("events-db",)
    finally:
        server.stop()
    assert not tmp_dir.exists()
    assert not port_accepts(port)
    server.stop()  # idempotent


def test_postgres_durable_keeps_defaults_and_applies_settings() -> None:
    with PostgresServer(settings={"work_mem": "8MB"}) as server:
        summary = server.settings_summary()
        assert (summary["fsync"], summary["synchronous_commit"], summary["full_page_writes"]) == ("on", "on", "on")
        with server.connect() as conn:
            assert conn.execute("SHOW work_mem").fetchone() == ("8MB",)


def test_an_external_dsn_starts_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("EVENTSTORE_POSTGRES_DSN", "postgresql://someone@db.invalid/x")
    with Servers(tmp_path) as servers:
        dsn, settings = REFERENCE.server(servers)
        assert dsn == "postgresql://someone@db.invalid/x"
        assert settings == {"server": "external (EVENTSTORE_POSTGRES_DSN)"}  # the DSN itself is not recorded
        assert servers._started == {}


def test_a_killed_server_restarts_on_its_data() -> None:
    """kill() is a crash (SIGKILL, no shutdown); restart() recovers from the same data directory."""
    with PostgresServer(durable=True) as server:
        with server.connect(autocommit=True) as conn:
            conn.execute("CREATE TABLE t (x int)")
            conn.execute("INSERT INTO t VALUES (1), (2)")
        server.kill()
        assert not server.running
        with pytest.raises(psycopg.OperationalError):
            server.connect().close()
        server.restart()
        with server.connect() as conn:
            assert conn.execute("SELECT sum(x) FROM t").fetchone() == (3,)


def test_moto_server_serves_dynamodb() -> None:
    boto3 = pytest.importorskip("boto3")
    with MotoServer() as moto:
        assert moto.version.startswith("moto ")
        env = moto.env()
        client = boto3.client(
            "dynamodb",
            endpoint_url=env["EVENTSTORE_DYNAMODB_ENDPOINT"],
            region_name=env["AWS_DEFAULT_REGION"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )
        client.create_table(
            TableName="events",
            KeySchema=[{"AttributeName": "stream", "KeyType": "HASH"}, {"AttributeName": "seq", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "stream", "AttributeType": "S"},
                {"AttributeName": "seq", "AttributeType": "N"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        item = {"stream": {"S": "order-1"}, "seq": {"N": "1"}, "body": {"S": "created"}}
        client.put_item(TableName="events", Item=item)
        got = client.get_item(TableName="events", Key={"stream": {"S": "order-1"}, "seq": {"N": "1"}}, ConsistentRead=True)
        assert got["Item"] == item
        port = moto.port
    assert port is not None and not port_accepts(port)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs PostgreSQL as another OS user")
def test_postgres_runs_unprivileged_when_root() -> None:
    with PostgresServer(durable=False) as server:
        assert server.data_dir.stat().st_uid != 0


def test_a_killed_parent_leaves_no_server_behind():
    """SIGKILL skips atexit; the kernel's parent-death signal still stops the server."""
    import signal
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import time
        from eventstore.dynamodb.server import MotoServer
        server = MotoServer().start()
        print(server._process.pid, flush=True)
        time.sleep(120)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and os.path.exists(f"/proc/{child}") and "Z" not in open(f"/proc/{child}/stat").read().split()[2]:
        time.sleep(0.1)
    alive = os.path.exists(f"/proc/{child}") and "Z" not in open(f"/proc/{child}/stat").read().split()[2]
    assert not alive, "the moto server outlived its SIGKILLed parent"


def test_a_server_cannot_advertise_a_proxy_unless_it_says_so() -> None:
    """The base ``advertise`` answers None: its clients connect where they were told, so the faults
    workload checks whether they bypass a proxy and, if they do, reports cuts as not measured."""
    assert PostgresServer().advertise({"127.0.0.1:5432": "127.0.0.1:9"}) is None
