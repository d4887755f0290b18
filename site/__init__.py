"""The rlspec documentation site and ``rlspec show``.

``python -m rlspec.site build OUTDIR`` writes a static site from the spec entries
(:mod:`rlspec.site.build`); :mod:`rlspec.site.show` prints one entry in the terminal.
The site needs the ``site`` extra (``pip install 'rlspec[site]'``); ``show`` needs nothing
beyond rlspec.
"""
