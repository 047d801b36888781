"""Sleeps past the function's timeout: the engine reports `Task timed out after N.NN seconds`."""

import time


def handler(event, context):
    time.sleep(float((event or {}).get("sleep_s", 3600)))
    return "woke up"
