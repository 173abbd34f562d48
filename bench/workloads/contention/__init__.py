"""Append contention: writers that load, decide and append with retries on hot and cold streams.
``workload`` runs it (its writer processes in ``writer``); ``tables``, ``figures`` and ``columns``
read its records for its page and the matrix."""
