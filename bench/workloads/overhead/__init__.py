"""The price of the API: each adapter against its engine's raw path, in ABBA rounds. ``workload`` runs
it (``processes`` and ``jobs``: the paths whose writers and listener are worker processes);
``tables`` reads its records."""
