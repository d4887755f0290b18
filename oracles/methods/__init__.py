"""How the oracles compute: exact rationals, linear programs, enumeration, derived tolerances.

These modules hold no formula of the notes; the formula modules beside this package (named
as in ``rlspec.reference``) use them.  Nothing here imports ``rlspec.reference``.
"""
