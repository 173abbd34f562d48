"""What a ``postgresql://`` URL names: the server (as libpq reads it), the store's schema, its mode
and its pool size. The engine opens the store class the mode names (``engine.STORES``).

``postgresql://user@host:port/db?schema=NAME&mode=reference|naive&pool_size=N``; every other query
parameter (``options``, ``connect_timeout``, ...) goes to libpq unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from ..errors import InvalidInput


@dataclass(frozen=True)
class PostgresConfig:
    conninfo: str
    schema: str = "public"
    mode: str = "reference"
    pool_size: int = 40

    @classmethod
    def from_url(cls, url: str) -> PostgresConfig:
        parts = urlsplit(url)
        ours = {"schema": cls.schema, "mode": cls.mode, "pool_size": str(cls.pool_size)}
        libpq = []
        for key, value in parse_qsl(parts.query):
            if key in ours:
                ours[key] = value
            else:
                libpq.append((key, value))
        conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(libpq, quote_via=quote), ""))  # libpq reads %20, not +
        try:
            pool_size = int(ours["pool_size"])
        except ValueError:
            raise InvalidInput(f"pool_size must be an integer, not {ours['pool_size']!r}") from None
        return cls(conninfo, ours["schema"], ours["mode"], pool_size)
