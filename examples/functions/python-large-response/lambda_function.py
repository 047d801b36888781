"""Returns a JSON string of event["bytes"] characters: 6 MiB - 2 by default, so with its two
quotes the response body is exactly 6 MiB, Lambda's limit; ask for one more to exceed it."""


def handler(event, context):
    n = int((event or {}).get("bytes", 6 * 1024 * 1024 - 2))
    return "x" * n
