"""The harness below every workload: records and their schema (``records``), the machine
(``environment``), statistics (``stats``), the load generator (``loadgen``), ABBA rounds (``abba``),
engine lookup (``engines``), the runner (``runner``), reading records back (``results``, ``tables``),
and the contracts a workload implements (``params``, ``metrics``, ``workload``, ``columns``, and the
aggregate its commands decide on, ``model``). Nothing here names a workload or an engine."""
