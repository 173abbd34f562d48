"""Throughput and latency per call, closed and open loop, and live delivery. ``workload`` runs it (its
client processes in ``clients``); ``tables``, ``figures`` and ``columns`` read its records."""
