"""Exact answers, computed independently of ``rlspec.reference``.

Each oracle uses a method different from the reference it judges: linear solves instead of
iteration, exact rational arithmetic, linear programs, enumeration of every outcome.  The
tests cross-check the oracles against each other.
"""
