"""A local moto server standing in for DynamoDB (and other AWS APIs).

moto runs in its own Python subprocess rather than ``ThreadedMotoServer`` so
its request handling does not compete with the benchmark client for our GIL.
Werkzeug's per-request access log is switched off: under benchmark load it
costs server CPU and fills the log file.

The child serves one request at a time: moto 5's threaded server loses
acknowledged transactions under concurrent requests (a cancelled transaction
restores a copy of the tables taken before it began, undoing transactions that
committed meanwhile), which would corrupt every concurrency measurement. It
also stops moto from keeping every object it creates for its dashboard, which
otherwise grows by a table copy per transaction (gigabytes within minutes).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
import urllib.error
import urllib.request
from typing import Any

from ..servers import Server, ServiceUnavailable, free_port
from .connection import ENV_ENDPOINT, ENV_REGION

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback must bypass HTTP(S)_PROXY


class MotoServer(Server):
    """``python -m moto.server`` equivalent on a free 127.0.0.1 port, stopped on exit."""

    name = "moto"
    emulator = True
    start_timeout_s = 30.0
    stop_timeout_s = 10.0

    def __init__(self, *, port: int | None = None, base_dir: Any = None) -> None:
        super().__init__(base_dir=base_dir)
        self.port = port

    @property
    def endpoint_url(self) -> str:
        if self.port is None:
            raise RuntimeError("MotoServer is not running; call start() first")
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment for the DynamoDB client: this endpoint, us-east-1, dummy credentials."""
        return {
            ENV_ENDPOINT: self.endpoint_url,
            ENV_REGION: "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }

    def prepare(self) -> None:
        if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
            raise ServiceUnavailable(f"moto server mode is not installed in {sys.executable}: pip install 'moto[server]'")
        self.version = f"moto {importlib.metadata.version('moto')}"
        self.port = self.port or free_port()

    def command(self) -> list[str]:
        return [sys.executable, "-m", __name__, "-H", "127.0.0.1", "-p", str(self.port)]

    def ready(self) -> bool:
        try:
            _DIRECT.open(f"{self.endpoint_url}/moto-api/", timeout=1).close()
        except urllib.error.HTTPError:
            return True  # any HTTP status means the server is up
        except OSError:
            return False
        return True


def _serve(argv: list[str]) -> None:
    """The child process: moto's server, one request at a time, without object tracking."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    import moto.core.common_models as models
    import moto.server as server

    models.BaseModel.__new__ = staticmethod(lambda cls, *args, **kwargs: object.__new__(cls))  # type: ignore[method-assign]  # deliberate: stops moto tracking every object
    run_simple = server.run_simple
    server.run_simple = lambda *args, **kwargs: run_simple(*args, **{**kwargs, "threaded": False})
    server.main(argv)


if __name__ == "__main__":
    _serve(sys.argv[1:])
