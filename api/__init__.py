"""rlspec: a verified reference specification and test-oracle suite for deep RL.

``rlspec.check(name, candidate)`` judges your implementation against an exact oracle;
``rlspec.entries()`` lists the specification.  Subpackages: ``rlspec.spec`` (the entries),
``rlspec.checks`` (the check machinery), ``rlspec.reference``, ``rlspec.oracles``,
``rlspec.toy_mdps``.
"""

__version__ = "0.1.0"

_LAZY = {"check": "rlspec.checks.runner", "Report": "rlspec.checks.report",
         "UsageError": "rlspec.checks.core", "entries": "rlspec.spec.registry",
         "entry": "rlspec.spec.registry"}


def __getattr__(name):
    # Imported lazily so that `import rlspec` stays cheap and free of import cycles.
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rlspec' has no attribute {name!r}")


__all__ = ["check", "Report", "UsageError", "entries", "entry", "__version__"]
