"""Crashes and connection cuts while writers append and a subscriber follows. ``workload`` runs it
with ``writer``/``writers`` (the writer processes), ``subscriber``, ``injection`` and ``toxiproxy``
(the faults) and ``audit`` (what was kept); ``tables``, ``figures`` and ``columns`` read its records."""
