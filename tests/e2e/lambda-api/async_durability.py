#!/usr/bin/python3
"""Asynchronous invocations lose nothing across a kill -9 of `thaw serve` (issue 12's R5).

Submits 1,000 Event invocations over the HTTP API from 8 threads to a function's SnapStart version
(its sandboxes start restored, not with four INITs at once on a software CPU) that logs the
request id it runs and fails every tenth event. Part way through (events still being accepted
and delivered) the server is killed with SIGKILL, then started again on the same data
directory; the rest are submitted to it. Then, once its queue is empty:
  - every event that got its 202 reached the function at least once (its id in the function's
    log, read with `thaw logs`), redeliveries keeping the request id;
  - every failing one was tried 1 + MaximumRetryAttempts times and its destination record is in
    the on-failure queue (`thaw queue receive`), with condition RetriesExhausted;
  - every succeeding one's record is in the on-success queue;
  - every failing one's payload is also in the function's dead-letter queue, its RequestID attribute
    naming it.
Prints how many were delivered more than once (at-least-once, as on Lambda). Needs KVM.

usage: async_durability.py THAW WORKDIR
"""
import base64
import http.client
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile

THAW, WORK = sys.argv[1], sys.argv[2]
DATA = os.path.join(WORK, "data")
EVENTS, THREADS, KILL_AFTER, KILL_AFTER_DELIVERIES = 1000, 8, 400, 20
FUNCTION = '''
def handler(event, context):
    print("DELIVERED " + context.aws_request_id, flush=True)
    if event["n"] % 10 == 0:
        raise RuntimeError("event %d fails on purpose" % event["n"])
    return {"n": event["n"]}
'''
started = time.monotonic()


def step(name):
    print(f"[{time.monotonic() - started:6.1f} s] {name}", flush=True)


def check(cond, what, detail=""):
    if not cond:
        raise AssertionError(f"{what}: {detail}")


class Server:
    def __init__(self, name):
        port_file = os.path.join(WORK, name + ".port")
        self.log_path = os.path.join(WORK, name + ".log")
        # Function errors are retried after 60 s × 0.005 = 0.3 s (then 0.6 s) rather than minutes.
        self.proc = subprocess.Popen([THAW, "--data-dir", DATA, "serve", "--listen", "127.0.0.1:0", "--port-file",
                                      port_file, "--event-workers", "4", "--event-retry-scale", "0.005",
                                      # four sandboxes starting at once on a software CPU (the
                                      # emulated KVM host) take longer than Lambda's 10 s
                                      "--init-timeout", "300", "--restore-timeout", "300", "--snapshot-zstd-level", "0"],
                                     stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT)
        while not os.path.exists(port_file):
            if self.proc.poll() is not None:
                raise AssertionError(f"thaw serve exited with {self.proc.returncode}:\n" + open(self.log_path).read())
            time.sleep(0.1)
        self.port = int(open(port_file).read())
        os.unlink(port_file)

    def request(self, method, path, body=b"", headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        try:
            conn.request(method, path, body, headers or {})
            r = conn.getresponse()
            return r.status, r.getheader("x-amzn-RequestId"), r.read()
        finally:
            conn.close()

    def metric(self, name):
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=60).read().decode()
        return float(next(line.split()[1] for line in text.splitlines() if line.startswith(name + " ")))


def thaw_lines(*args):
    out = subprocess.run([THAW, "--data-dir", DATA, *args], check=True, capture_output=True, text=True, timeout=300)
    return out.stdout.splitlines()


def deliveries():
    return sum(1 for line in thaw_lines("logs", "sink", "--since", "all") if "DELIVERED " in line)


def create_function(server):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("lambda_function.py", FUNCTION)
    body = json.dumps({"FunctionName": "sink", "Runtime": "python3.11", "Role": "arn:aws:iam::123456789012:role/r",
                       "Handler": "lambda_function.handler",
                       # the first invocation of a restored sandbox on a software CPU, its pages still
                       # loading, can take longer than Lambda's default 3 s
                       "Timeout": 60, "Code": {"ZipFile": base64.b64encode(buf.getvalue()).decode()},
                       "DeadLetterConfig": {"TargetArn": "arn:thaw:queue:us-east-1:123456789012:sink-dlq"},
                       "SnapStart": {"ApplyOn": "PublishedVersions"}})
    status, _, out = server.request("POST", "/2015-03-31/functions", body.encode())
    check(status == 201, "CreateFunction", out)
    wait_active(server, "")
    status, _, out = server.request("POST", "/2015-03-31/functions/sink/versions", b"{}")
    check(status == 201 and json.loads(out)["Version"] == "1", "PublishVersion", out)
    wait_active(server, "?Qualifier=1")
    queue = "arn:aws:sqs:us-east-1:123456789012:"
    config = {"MaximumRetryAttempts": 1, "DestinationConfig": {"OnSuccess": {"Destination": queue + "sink-done"},
                                                               "OnFailure": {"Destination": queue + "sink-failed"}}}
    status, _, out = server.request("PUT", "/2019-09-25/functions/sink/event-invoke-config?Qualifier=1",
                                    json.dumps(config).encode())
    check(status == 200, "PutFunctionEventInvokeConfig", out)


def wait_active(server, query):
    for _ in range(1200):
        status, _, out = server.request("GET", "/2015-03-31/functions/sink/configuration" + query)
        if json.loads(out)["State"] == "Active":
            return
        time.sleep(0.5)
    raise AssertionError("sink" + query + " never became Active")


def submit(server, numbers, accepted, lock):
    """Sends Events for `numbers` from THREADS threads; the ids of the 202s go in accepted[n]. A
    connection the kill cut off leaves that event unaccepted (it may or may not run)."""
    todo = list(numbers)

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                n = todo.pop(0)
            try:
                status, rid, _ = server.request("POST", "/2015-03-31/functions/sink/invocations?Qualifier=1",
                                                json.dumps({"n": n}).encode(), {"X-Amz-Invocation-Type": "Event"})
            except (OSError, http.client.HTTPException):
                return  # the server is gone
            check(status == 202, f"event {n} accepted", status)
            with lock:
                accepted[n] = rid
    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    return threads


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    accepted, lock = {}, threading.Lock()
    first = Server("serve-1")
    create_function(first)
    step("sink created and version 1 published (SnapStart: its sandboxes start restored); its events go to "
         "on-success and on-failure queues")
    step(f"submitting {EVENTS} events from {THREADS} threads; kill -9 once {KILL_AFTER} are accepted and "
         f"{KILL_AFTER_DELIVERIES} succeeded")
    threads = submit(first, range(EVENTS), accepted, lock)
    # Killed once events are both being accepted and delivered (on a fast machine every event
    # may be accepted by then; the kill still comes while most are queued).
    while len(accepted) < KILL_AFTER or first.metric("lambda_async_events_succeeded_total") < KILL_AFTER_DELIVERIES:
        time.sleep(0.2)
    queued = first.metric("lambda_async_events_queued")
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    for t in threads:
        t.join()
    delivered_before = deliveries()
    step(f"killed with {len(accepted)} accepted, {queued:.0f} of them queued just before, {delivered_before} "
         "deliveries logged; restarting on the same data")

    second = Server("serve-2")
    threads = submit(second, [n for n in range(EVENTS) if n not in accepted], accepted, lock)
    for t in threads:
        t.join()
    check(len(accepted) == EVENTS, "every event accepted", len(accepted))
    step(f"all {EVENTS} accepted; waiting for the queue to empty")
    while second.metric("lambda_async_events_queued") > 0:
        time.sleep(1)
    step("queue empty: checking every accepted event against the function's log and the queues")

    runs = {}
    for line in thaw_lines("logs", "sink", "--since", "all", "--json"):
        message = json.loads(line)["message"]
        if message.startswith("DELIVERED "):
            rid = message.split()[1]
            runs[rid] = runs.get(rid, 0) + 1
    lost = [n for n, rid in accepted.items() if rid not in runs]
    check(not lost, "every accepted event reached the function", lost[:20])
    records = {}
    for queue in ("sink-done", "sink-failed"):
        for line in thaw_lines("queue", "receive", queue, "--max", str(10 * EVENTS), "--json"):
            record = json.loads(json.loads(line)["Body"])
            records.setdefault(record["requestContext"]["requestId"], []).append((queue, record))
    for n, rid in accepted.items():
        got = records.get(rid)
        check(got, f"a destination record for event {n}", rid)
        queue, record = got[0]
        if n % 10 == 0:
            check(queue == "sink-failed" and record["requestContext"]["condition"] == "RetriesExhausted" and
                  record["requestContext"]["approximateInvokeCount"] >= 2 and
                  record["responsePayload"]["errorType"] == "RuntimeError", f"event {n} failed, retried, recorded",
                  (record, runs[rid]))
        else:
            check(queue == "sink-done" and record["requestPayload"] == {"n": n} and
                  record["responsePayload"] == {"n": n}, f"event {n} succeeded and was recorded", record)
    dead = {}
    for line in thaw_lines("queue", "receive", "sink-dlq", "--max", str(10 * EVENTS), "--json"):
        m = json.loads(line)
        dead[m["MessageAttributes"]["RequestID"]] = (json.loads(m["Body"]), m["MessageAttributes"])
    for n, rid in accepted.items():
        if n % 10 == 0:
            check(rid in dead and dead[rid][0] == {"n": n} and "fails on purpose" in dead[rid][1]["ErrorMessage"],
                  f"event {n}'s dead letter", dead.get(rid))
        else:
            check(rid not in dead, f"event {n} succeeded: no dead letter", dead.get(rid))
    again = sum(1 for n, rid in accepted.items() if runs[rid] > (2 if n % 10 == 0 else 1))
    unanswered = len(records) - len(accepted)
    step(f"all {EVENTS} delivered, none lost; {again} delivered again after the crash (at least once); "
         f"{unanswered} more whose 202 the kill cut off ran too")
    second.proc.send_signal(signal.SIGTERM)
    check(second.proc.wait(timeout=120) == 0, "thaw serve exits 0 at SIGTERM")
    step("all passed")
    shutil.rmtree(WORK)


if __name__ == "__main__":
    try:
        main()
    except BaseException:
        for name in ("serve-1", "serve-2"):
            path = os.path.join(WORK, name + ".log")
            if os.path.exists(path):
                print(f"---- {name}'s log (end) ----\n" + open(path).read()[-8000:], flush=True)
        raise
