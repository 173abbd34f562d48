"""How a page shows numbers, tables and figures (``tables``, ``figures``), and what a workload
notebook displays besides its own tables and figures (``notebook``)."""
