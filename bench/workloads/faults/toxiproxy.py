"""Toxiproxy, Shopify's fault-injection TCP proxy, as a throwaway server: it cuts a client's connections
between a request and its answer, which is what makes an append's outcome ambiguous.

The binary is built once with ``go install github.com/Shopify/toxiproxy/v2/cmd/server@VERSION`` into
``$XDG_CACHE_HOME/eventstore-workbench/toxiproxy-VERSION/`` (default ``~/.cache``), the way the Kafka
jars are cached: only the first run needs Go and the module proxy. The server runs as an
``eventstore.servers.Server`` (temp dir, log, stopped at exit or when its parent dies) on a free port
of 127.0.0.1 and is driven through its HTTP API.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from eventstore.servers import Server, ServiceUnavailable, free_port

VERSION = "v2.5.0"
MODULE = "github.com/Shopify/toxiproxy/v2/cmd/server"
BUILD_TIMEOUT_S = 900
#: The toxic that holds back the server's answers during a cut.
_BLACKHOLE = "eventstore-blackhole"
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback must bypass HTTP(S)_PROXY


def binary() -> Path:
    """The ``toxiproxy-server`` binary, built with ``go install`` on first use and cached.

    Go writes into a staging dir that is renamed into place, so an interrupted or concurrent build
    never leaves a half-built cache entry behind."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "eventstore-workbench" / f"toxiproxy-{VERSION}"
    target = cache / "server"  # ``go install`` names the binary after its package directory
    if target.is_file():
        return target
    go = shutil.which("go")
    if go is None:
        raise ServiceUnavailable(f"Go is not on PATH and Toxiproxy is not cached at {target}: install Go 1.2x to build it (go install {MODULE}@{VERSION})")
    cache.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{cache.name}.partial-", dir=cache.parent))
    argv = [go, "install", f"{MODULE}@{VERSION}"]
    try:
        result = subprocess.run(argv, env={**os.environ, "GOBIN": str(staging)}, capture_output=True, text=True,
                                timeout=BUILD_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ServiceUnavailable(f"building Toxiproxy took over {BUILD_TIMEOUT_S} s: {' '.join(argv)}") from exc
    if result.returncode != 0 or not (staging / "server").is_file():
        shutil.rmtree(staging, ignore_errors=True)
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise ServiceUnavailable(f"building Toxiproxy failed (go exit {result.returncode}): {' '.join(argv)}\n{tail}")
    try:
        staging.rename(cache)
    except OSError:  # a concurrent build got there first; its binary is as good as ours
        shutil.rmtree(staging, ignore_errors=True)
    return target


class Toxiproxy(Server):
    """A Toxiproxy server; ``proxy`` routes a TCP address through it and ``cut`` severs what it carries."""

    name = "toxiproxy"
    start_timeout_s = 30.0
    stop_timeout_s = 10.0

    def __init__(self, *, base_dir: str | Path | None = None) -> None:
        super().__init__(base_dir=base_dir)
        self.port: int | None = None
        self._binary: Path | None = None

    # -- Server ----------------------------------------------------------------------------------

    def prepare(self) -> None:
        self._binary = binary()
        self.port = free_port()

    def command(self) -> list[str]:
        assert self._binary is not None, "prepare() sets it"
        return [str(self._binary), "-host", "127.0.0.1", "-port", str(self.port)]

    def ready(self) -> bool:
        try:
            self._call("GET", "/version")
        except OSError:  # not listening yet
            return False
        return True

    def started(self) -> None:
        self.version = f"Toxiproxy {VERSION}"  # a `go install` build reports its version as "git"

    # -- proxies ---------------------------------------------------------------------------------

    def proxy(self, name: str, upstream: str) -> str:
        """Route ``upstream`` (``host:port``) through a new proxy ``name``; its ``host:port`` on 127.0.0.1."""
        created = self._call("POST", "/proxies", {"name": name, "listen": "127.0.0.1:0", "upstream": upstream, "enabled": True})
        return str(created["listen"])

    def retarget(self, name: str, upstream: str) -> None:
        """Make proxy ``name`` forward to ``upstream`` from now on; it keeps its own address."""
        listen = self._call("GET", f"/proxies/{name}")["listen"]
        self._call("POST", f"/proxies/{name}", {"upstream": upstream})
        moved = self._call("GET", f"/proxies/{name}")["listen"]
        if moved != listen:  # the address the server was told to advertise must stay the proxy's
            raise ServiceUnavailable(f"Toxiproxy moved proxy {name} from {listen} to {moved} when its upstream changed")

    def remove(self, name: str) -> None:
        """Delete proxy ``name``, closing its connections. It never raises: a proxy already gone, or a
        server already gone (Ctrl-C reaches it too), is what removing wants, and ``stop`` takes every
        proxy with it anyway; an error here must not hide the one that ended the run."""
        try:
            self._call("DELETE", f"/proxies/{name}")
        except OSError:  # HTTP 404 (gone), or the server is gone: see above
            pass

    def cut(self, names: Iterable[str], blackhole_s: float) -> None:
        """Cut every connection through the proxies ``names`` mid-request: the server's answers are
        dropped for ``blackhole_s`` (requests still reach it and commit), then every connection is
        closed, so each client waiting for an answer cannot know whether its request took effect."""
        names = list(names)
        for name in names:
            self._call("POST", f"/proxies/{name}/toxics", {
                "name": _BLACKHOLE, "type": "timeout", "stream": "downstream", "toxicity": 1.0, "attributes": {"timeout": 0},
            })
        time.sleep(blackhole_s)
        for name in names:
            self._call("POST", f"/proxies/{name}", {"enabled": False})  # closes every connection it carries
            self._call("DELETE", f"/proxies/{name}/toxics/{_BLACKHOLE}")
            self._call("POST", f"/proxies/{name}", {"enabled": True})

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with _DIRECT.open(request, timeout=10) as response:
            text = response.read().decode()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:  # /version answers plain text in some releases
            return text
