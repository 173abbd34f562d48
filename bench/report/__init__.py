"""The report above the workloads: the notebooks and their parameters (``notebooks``), running them
into a run directory (``build``), the site (``site``, ``frontpage``), the comparison matrix
(``matrix``, ``matrix_html``, ``comparability``), the decisions (``profiles``, ``decide``,
``verdicts``, ``figures``), two runs side by side (``compare``) and the explorer (``explorer``)."""
