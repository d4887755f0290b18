"""rlspec: a verified reference specification and test-oracle suite for deep RL.

``rlspec.check(name, candidate)`` judges your implementation against an exact oracle;
``rlspec.entries()`` lists the specification.  Submodules: ``rlspec.reference``,
``rlspec.oracles``, ``rlspec.toy_mdps``, ``rlspec.checks``.
"""

__version__ = "0.1.0"


def __getattr__(name):
    # Imported lazily so that `import rlspec` stays cheap and free of import cycles.
    if name in ("check", "Report"):
        from rlspec.checks import runner
        return getattr(runner, name)
    if name in ("entries", "entry"):
        from rlspec.spec import registry
        return getattr(registry, name)
    raise AttributeError(f"module 'rlspec' has no attribute {name!r}")


__all__ = ["check", "Report", "entries", "entry", "__version__"]
