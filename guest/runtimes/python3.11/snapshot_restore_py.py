"""SnapStart runtime hooks, with the API of AWS's `snapshot_restore_py` module.

    from snapshot_restore_py import register_before_snapshot, register_after_restore

    @register_before_snapshot
    def close_connections(): ...

    register_after_restore(reopen, "db.internal", port=5432)

Before-snapshot hooks run in reverse order of registration, just before the sandbox is
snapshotted; each is taken off the list as it runs, so a hook registered by a running hook
runs next. After-restore hooks run in order of registration in every sandbox restored from
the snapshot, before it serves its first invocation; one registered by a running hook runs
after the others.
"""

__version__ = "1.0.0"

_before_snapshot_registry = []
_after_restore_registry = []


def register_before_snapshot(func, *args, **kwargs):
    """Registers func(*args, **kwargs); returns func, so it also works as a decorator."""
    _before_snapshot_registry.append((func, args, kwargs))
    return func


def register_after_restore(func, *args, **kwargs):
    """Registers func(*args, **kwargs); returns func, so it also works as a decorator."""
    _after_restore_registry.append((func, args, kwargs))
    return func


def get_before_snapshot():
    return _before_snapshot_registry


def get_after_restore():
    return _after_restore_registry
