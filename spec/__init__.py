"""The specification: one Markdown entry per formula, theorem or algorithm of the notes
(``entries/``), read by :mod:`rlspec.spec.registry`."""
