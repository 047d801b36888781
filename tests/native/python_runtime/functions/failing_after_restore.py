from snapshot_restore_py import register_after_restore


def _reconnect(host):
    raise ConnectionRefusedError("cannot reconnect to " + host)


register_after_restore(_reconnect, "db.internal")


def handler(event, context):
    return "unreachable"
