"""Crashes, connection cuts and power cuts while writers append and a subscriber follows. ``workload``
runs it with ``writer``/``writers`` (the writer processes), ``subscriber``, ``crashes`` and
``injection`` (crashes and cuts, through ``toxiproxy``), ``power`` (power cuts on a power-loss mount)
and ``audit`` (what was kept); ``tables``, ``figures`` and ``columns`` read its records."""
