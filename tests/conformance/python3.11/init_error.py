def helper():
    raise RuntimeError("INIT failed on purpose")


helper()


def handler(event, context):
    return "never"
