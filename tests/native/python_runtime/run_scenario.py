#!/usr/bin/env python3
"""Runs the python3.11 runtime's bootstrap against a small scripted Runtime API server that
records everything, and prints, as one JSON object, every request the runtime made (method,
path, headers, body, client port), its exit status and its output.

    run_scenario.py --bootstrap B --task-root DIR --handler H --scenario FILE

With --chroot the bootstrap runs inside an unpacked image, with the image's own
interpreter and libraries. The scenario file is JSON: {"events": [{"body": "<raw event>", "headers": {...}}, ...],
"env": {...}, "init_type": "on-demand" | "snap-start", "timeout_s": 20, "restore_status": 200}. The server hands
out the events in order on invocation/next; once all are answered (or the runtime exits)
the runtime is stopped and the record printed. restore/next answers at once.
With "telemetry": true the runtime gets a pipe as _LAMBDA_TELEMETRY_LOG_FD, as under thaw's
agent, and the record has its frames ("frames": [{"type": int, "text": str}, ...]).
"""

import argparse
import http.server
import json
import os
import subprocess
import sys
import threading
import time


class Recorder:
    def __init__(self, events):
        self.lock = threading.Condition()
        self.events = list(events)
        self.handed_out = 0
        self.answered = 0
        self.requests = []
        self.stop = False
        self.restore_status = 200

    def record(self, method, path, headers, body, peer_port):
        with self.lock:
            self.requests.append({
                "method": method,
                "path": path,
                "headers": {k: v for k, v in headers.items()},
                "body": body.decode("utf-8", "replace"),
                "body_bytes": len(body),
                "peer_port": peer_port,
            })
            self.lock.notify_all()


def make_handler(rec):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _body(self):
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def _reply(self, status, body=b"", headers=None):
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            rec.record("GET", self.path, self.headers, b"", self.client_address[1])
            if self.path == "/2018-06-01/runtime/invocation/next":
                with rec.lock:
                    while rec.handed_out >= len(rec.events) and not rec.stop:
                        rec.lock.wait(0.1)
                    if rec.stop:
                        self.close_connection = True
                        return
                    event = rec.events[rec.handed_out]
                    index = rec.handed_out
                    rec.handed_out += 1
                headers = {
                    "Lambda-Runtime-Aws-Request-Id": "req-%d" % index,
                    "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 60_000),
                    "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:test",
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
                    "Content-Type": "application/json",
                }
                headers.update(event.get("headers", {}))
                body = event.get("body", "{}").encode()
                if event.get("chunked"):
                    self.send_response(200)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for i in range(0, len(body), 7):
                        piece = body[i:i + 7]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self._reply(200, body, headers)
            elif self.path == "/2018-06-01/runtime/restore/next":
                status = rec.restore_status
                self._reply(status, b"" if status == 200 else b'{"errorMessage":"restore failed","errorType":"Test"}')
            else:
                self._reply(404, b'{"errorMessage":"not found","errorType":"InvalidRequest"}')

        def do_POST(self):
            body = self._body()
            rec.record("POST", self.path, self.headers, body, self.client_address[1])
            p = self.path
            if p.startswith("/2018-06-01/runtime/invocation/") and (p.endswith("/response") or p.endswith("/error")):
                with rec.lock:
                    rec.answered += 1
                    rec.lock.notify_all()
            self._reply(202, b'{"status":"OK"}', {"Content-Type": "application/json"})

    return Handler


def read_frames(fd, frames):
    """Frames as AWS's runtimes write them: type, length, timestamp (µs), message."""
    with os.fdopen(fd, "rb") as f:
        data = f.read()
    at = 0
    while at + 16 <= len(data):
        kind = int.from_bytes(data[at:at + 4], "big")
        length = int.from_bytes(data[at + 4:at + 8], "big")
        stamp_us = int.from_bytes(data[at + 8:at + 16], "big")
        frames.append({"type": kind, "timestamp_us": stamp_us,
                       "text": data[at + 16:at + 16 + length].decode("utf-8", "replace")})
        at += 16 + length
    if at != len(data):
        frames.append({"type": -1, "text": "torn frame: %d bytes left" % (len(data) - at)})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--python", default="/usr/bin/python3.11",
                    help="interpreter for the bootstrap; empty: execute the bootstrap itself")
    ap.add_argument("--chroot", default="", help="run the bootstrap inside this root (an unpacked image)")
    ap.add_argument("--task-root", required=True)
    ap.add_argument("--handler", required=True)
    ap.add_argument("--scenario", required=True)
    args = ap.parse_args()
    with open(args.scenario) as f:
        scenario = json.load(f)

    rec = Recorder(scenario.get("events", []))
    rec.restore_status = int(scenario.get("restore_status", 200))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(rec))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    env = {
        "PATH": "/usr/bin:/bin",
        "_HANDLER": args.handler,
        "LAMBDA_TASK_ROOT": args.task_root,
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:%d" % port,
        "AWS_LAMBDA_FUNCTION_NAME": "test",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/test",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]abcdef",
        "AWS_REGION": "us-east-1",
        "AWS_LAMBDA_INITIALIZATION_TYPE": scenario.get("init_type", "on-demand"),
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
    }
    env.update(scenario.get("env", {}))
    argv = [args.python, args.bootstrap] if args.python else [args.bootstrap]
    if args.chroot:
        argv = ["/usr/sbin/chroot", args.chroot] + argv
    telemetry_read, pass_fds = None, ()
    if scenario.get("telemetry"):
        telemetry_read, telemetry_write = os.pipe()
        env["_LAMBDA_TELEMETRY_LOG_FD"] = str(telemetry_write)
        pass_fds = (telemetry_write,)
    proc = subprocess.Popen(argv, env=env, cwd="/", pass_fds=pass_fds,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    frames = []
    t_frames = None
    if telemetry_read is not None:
        os.close(telemetry_write)
        t_frames = threading.Thread(target=read_frames, args=(telemetry_read, frames), daemon=True)
        t_frames.start()
    out_parts, err_parts = [], []
    t_out = threading.Thread(target=lambda: out_parts.append(proc.stdout.read()), daemon=True)
    t_err = threading.Thread(target=lambda: err_parts.append(proc.stderr.read()), daemon=True)
    t_out.start()
    t_err.start()

    deadline = time.monotonic() + float(scenario.get("timeout_s", 20))
    timed_out = False
    with rec.lock:
        while rec.answered < len(rec.events) and proc.poll() is None:
            if time.monotonic() > deadline:
                timed_out = True
                break
            rec.lock.wait(0.05)
        rec.stop = True
        rec.lock.notify_all()
    exit_code = None
    if proc.poll() is None:
        # Still waiting in invocation/next: the runtime is healthy. Stop it.
        time.sleep(0.05)
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    else:
        exit_code = proc.returncode
    t_out.join(5)
    t_err.join(5)
    if t_frames is not None:
        t_frames.join(5)
    server.shutdown()
    with rec.lock:
        requests = list(rec.requests)
    json.dump({
        "requests": requests,
        "exit_code": exit_code,
        "timed_out": timed_out,
        "stdout": b"".join(out_parts).decode("utf-8", "replace"),
        "stderr": b"".join(err_parts).decode("utf-8", "replace"),
        "frames": frames,
    }, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
