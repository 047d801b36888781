"""Sleeps event["seconds"] (default 0) and says so first: a function that stays busy on purpose."""
import time


def handler(event, context):
    seconds = float(event.get("seconds", 0))
    print(f"sleeping {seconds} s in {context.aws_request_id}", flush=True)
    time.sleep(seconds)
    return {"slept": seconds, "function_version": context.function_version}
