"""Subscription resume: a consumer killed at random points while writers append. ``workload`` runs
it (the consumer process is ``consumer``); ``tables``, ``figures`` and ``columns`` read its records."""
