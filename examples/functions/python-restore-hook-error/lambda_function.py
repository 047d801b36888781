"""An after-restore hook that fails: the restored sandbox must be discarded and the failure
reported as Runtime.AfterRestoreError, while the engine goes on serving."""

from snapshot_restore_py import register_after_restore


@register_after_restore
def _refresh_credentials():
    raise RuntimeError("credentials service unreachable after restore")


def handler(event, context):
    return {"unreachable": True}
