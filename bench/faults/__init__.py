"""What the faults workload (``bench.workloads.faults``) runs: writers that retry with their event ids
(``writer``, ``writers``), a subscriber that survives the engine's crash (``subscriber``), the faults
themselves (``injection``: crashing a server, cutting connections through ``toxiproxy``), and the
audit of what was kept (``audit``)."""
