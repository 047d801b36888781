"""SnapStart hooks as AWS's snapshot_restore_py runs them: a before-snapshot hook that
registers another has it run too."""
from snapshot_restore_py import register_after_restore, register_before_snapshot
import snapshot_restore_py

ran = []


@register_before_snapshot
def first():
    ran.append("first")
    register_before_snapshot(lambda: ran.append("registered-by-first"))


register_before_snapshot(ran.append, "last-registered")


@register_after_restore
def restored():
    ran.append("restored")
    register_after_restore(lambda: ran.append("registered-by-restored"))


def handler(event, context):
    return {"ran": ran, "version": snapshot_restore_py.__version__}
