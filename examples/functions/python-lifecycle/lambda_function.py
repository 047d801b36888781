"""A background thread counting 100 times a second, and a SIGTERM handler that says goodbye.

The handler sleeps event["seconds"] (default 0.5) and returns the counter at its start and end:
between invocations the sandbox is frozen, so the counter stands still there. At SHUTDOWN the
runtime gets SIGTERM and two seconds; the handler's line reaches the function's log.
"""
import signal
import sys
import threading
import time

counter = 0


def _tick():
    global counter
    while True:
        time.sleep(0.01)
        counter += 1


def _on_sigterm(signum, frame):
    print(f"SIGTERM received after {counter} ticks: cleaning up", flush=True)
    sys.exit(0)


threading.Thread(target=_tick, daemon=True).start()
signal.signal(signal.SIGTERM, _on_sigterm)


def handler(event, context):
    start = counter
    time.sleep(float(event.get("seconds", 0.5)))
    return {"at_start": start, "at_end": counter}
