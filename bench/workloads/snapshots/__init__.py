"""Snapshot replay savings: load time against stream length with and without snapshots, and what
snapshotting costs. ``workload`` runs it; ``tables``, ``figures`` and ``columns`` read its records."""
