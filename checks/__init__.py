"""The check machinery: judge a user's function against an exact oracle.

``rlspec.check(name, candidate)`` is the entry point (:mod:`rlspec.checks.runner`); the
candidate runs in a worker process (:mod:`rlspec.checks.worker`, :mod:`rlspec.checks.candidate`);
the judging rules are written once (:mod:`rlspec.checks.core`); each chapter's cases and
judges are a battery (:mod:`rlspec.checks.batteries`); ``rlspec list checks`` names them with
their spec IDs and canonical signatures; :mod:`rlspec.checks.adapters` maps other conventions.
"""
