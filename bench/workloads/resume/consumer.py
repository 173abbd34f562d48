"""The consumer process of the subscription-resume workload; the parent kills it with SIGKILL.

    python -m bench.workloads.resume.consumer URL NAME OUTFILE [--checkpoint-every K] [--batch-size B] [--poll-interval S]

It subscribes as NAME from its stored checkpoint and appends one line per handled event to OUTFILE
with a direct ``write`` (no user-space buffer, so a SIGKILL loses none), and fsyncs OUTFILE before
every checkpoint save, so a checkpoint never covers an event whose line is not on disk. Lines:

    S <unix time>                     the store is open; consuming starts
    E <position as JSON> <event id>   one handled event
    C <unix time> <events handled>    caught up with everything visible at the time

SIGTERM stops it cleanly (the subscription saves its checkpoint on the way out).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import time
from typing import Any

from eventstore import open_store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workloads.resume.consumer", description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("name")
    parser.add_argument("outfile")
    parser.add_argument("--checkpoint-every", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--poll-interval", type=float, default=0.05)
    args = parser.parse_args(argv)

    fd = os.open(args.outfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def line(text: str) -> None:
        os.write(fd, (text + "\n").encode())

    store = open_store(args.url)
    save_checkpoint = store.save_checkpoint

    def durable_checkpoint(name: str, position: Any, tx: Any = None) -> None:
        os.fsync(fd)  # the handled events' lines reach the disk before the checkpoint says so
        save_checkpoint(name, position, tx)

    store.save_checkpoint = durable_checkpoint  # type: ignore[method-assign]

    def handle(event: Any) -> None:
        line(f"E {json.dumps(event.position, separators=(',', ':'))} {event.event_id}")

    subscription = store.subscribe(
        args.name, handle, batch_size=args.batch_size, checkpoint_every=args.checkpoint_every, poll_interval=args.poll_interval
    )
    signal.signal(signal.SIGTERM, lambda *_: subscription.stop(timeout=0))
    line(f"S {time.time():.6f}")
    handled = subscription.catch_up()
    line(f"C {time.time():.6f} {handled}")
    subscription.run()
    store.close()
    os.close(fd)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
