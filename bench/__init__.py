"""The benchmark workbench, in three layers that only import downwards:

- ``harness``: records and their schema, the environment, statistics, the load generator, ABBA
  rounds, engine lookup, the runner, and the contracts a workload implements (parameters, metrics,
  the workload itself, the matrix columns it may feed).
- ``workloads``: one folder per workload, holding everything it owns (run, worker processes,
  tables, figures, matrix columns); the package itself is the registry. ``display`` (tables and
  figures as a page shows them) sits between the harness and the workloads.
- ``report``: the notebooks run into a site: pages, front page, matrix, decisions, comparison of
  two runs, the explorer.

Measurement and analysis are separate: the runner writes records; everything that shows a number
reads it from the records. The package itself imports nothing, so a worker process starts fast.
"""
import sys

# jsonschema, when rfc3987_syntax is installed (jupyter-events pulls it in), imports it to check "iri"
# formats, and building its grammar takes about 3.5 s at every process start: every notebook kernel
# and CLI call paid it. No schema here checks that format, so the module is kept out.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]  # None means "not importable", by Python's rule
