"""The price of the API: each adapter against its engine's raw path, in ABBA rounds. ``workload`` runs
it; ``tables`` reads its records."""
