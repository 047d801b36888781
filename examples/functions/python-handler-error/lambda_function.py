"""The handler raises: the caller gets Lambda's error JSON with errorType ValueError."""


def _check(event):
    raise ValueError("bad input: %r" % (event,))


def handler(event, context):
    _check(event)
