"""The benchmark workbench: workloads that measure event stores and write tidy records, and the
notebooks' helpers that read those records back (``results``, ``summaries``, ``plots``, ``overview``).

Measurement and analysis are separate: ``runner`` writes records; everything that shows a number
reads it from the records. Kept import-free so ``python -m bench.resume_worker`` starts fast.
"""
import sys

# jsonschema, when rfc3987_syntax is installed (jupyter-events pulls it in), imports it to check "iri"
# formats, and building its grammar takes about 3.5 s at every process start: every notebook kernel
# and CLI call paid it. No schema here checks that format, so the module is kept out.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]  # None means "not importable", by Python's rule
