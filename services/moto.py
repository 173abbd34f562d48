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

import atexit
import importlib.metadata
import importlib.util
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from services.base import ServiceUnavailable, die_with_parent, free_port, log_tail

START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 10
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback must bypass HTTP(S)_PROXY


class MotoServer:
    """``python -m moto.server`` equivalent on a free 127.0.0.1 port, stopped on exit."""

    emulator: bool = True

    def __init__(self, *, port: int | None = None) -> None:
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None

    @property
    def endpoint_url(self) -> str:
        if self.port is None:
            raise RuntimeError("MotoServer is not running; call start() first")
        return f"http://127.0.0.1:{self.port}"

    @property
    def version(self) -> str:
        return f"moto {importlib.metadata.version('moto')}"

    def env(self) -> dict[str, str]:
        """Environment for the DynamoDB client: this endpoint, us-east-1, dummy credentials."""
        return {
            "EVENTSTORE_DYNAMODB_ENDPOINT": self.endpoint_url,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }

    def start(self) -> MotoServer:
        """Launch the server and return once it answers HTTP."""
        if self._process is not None:
            raise RuntimeError("MotoServer already started")
        if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
            raise ServiceUnavailable(f"moto server mode is not installed in {sys.executable}: pip install 'moto[server]'")
        self.port = self.port or free_port()
        fd, log_name = tempfile.mkstemp(prefix="eventstore-moto-", suffix=".log")
        self._log_path = Path(log_name)
        with open(fd, "wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "services.moto", "-H", "127.0.0.1", "-p", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        atexit.register(self.stop)
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Terminate, wait, kill if needed, remove the log; safe to call twice."""
        atexit.unregister(self.stop)
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None

    def __enter__(self) -> MotoServer:
        return self if self._process is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _wait_until_ready(self) -> None:
        assert self._process is not None and self._log_path is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ServiceUnavailable(
                    f"moto server exited with code {self._process.returncode} before answering on "
                    f"{self.endpoint_url}:\n{log_tail(self._log_path)}"
                )
            try:
                _DIRECT.open(f"{self.endpoint_url}/moto-api/", timeout=1).close()
                return
            except urllib.error.HTTPError:
                return  # any HTTP status means the server is up
            except OSError:
                time.sleep(0.05)
        raise ServiceUnavailable(
            f"moto server did not answer on {self.endpoint_url} within {START_TIMEOUT_S}s:\n{log_tail(self._log_path)}"
        )


def _serve(argv: list[str]) -> None:
    """The child process: moto's server, one request at a time, without object tracking."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    import moto.core.common_models as models
    import moto.server as server

    models.BaseModel.__new__ = staticmethod(lambda cls, *args, **kwargs: object.__new__(cls))  # type: ignore[method-assign]
    run_simple = server.run_simple
    server.run_simple = lambda *args, **kwargs: run_simple(*args, **{**kwargs, "threaded": False})  # type: ignore[assignment]
    server.main(argv)


if __name__ == "__main__":
    _serve(sys.argv[1:])
