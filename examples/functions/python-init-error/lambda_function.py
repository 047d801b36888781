"""Raises while the module is imported: init fails with errorType RuntimeError."""

raise RuntimeError("configuration missing: DATABASE_URL is not set")


def handler(event, context):
    return "never reached"
