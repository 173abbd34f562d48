"""The benchmark workbench: workloads that measure event stores and write tidy records, and the
notebooks' helpers that read those records back (``results``, ``summaries``, ``plots``, ``overview``).

Measurement and analysis are separate: ``runner`` writes records; everything that shows a number
reads it from the records. Kept import-free so ``python -m bench.resume_worker`` starts fast.
"""
