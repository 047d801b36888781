"""The client of `thaw bench net`. The same code runs in a sandbox (as a function) and on the
host (as a script: python3 lambda_function.py '{"op": ...}'), so the two are measured alike.

event: {"op": "send", "host": H, "port": P, "bytes": N}
           one TCP connection: sends N bytes in 64 KiB writes, shuts its side down and waits for
           the server's reply line (the bytes it read); returns {"bytes": the reply}
       {"op": "redis_ping", "host": H, "port": P, "count": N}
           one connection to Redis, N PING round trips in RESP (no client library: what is
           measured is the network); returns {"round_trip_us": [one per PING]}
       {"op": "none"}  returns {} (a new sandbox's first response)
"""

import json
import socket
import sys
import time

CHUNK = b"\0" * 65536


def send(host, port, count):
    with socket.create_connection((host, port), timeout=60) as connection:
        left = count
        while left > 0:
            n = min(left, len(CHUNK))
            connection.sendall(CHUNK[:n])
            left -= n
        connection.shutdown(socket.SHUT_WR)
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = connection.recv(64)
            if not chunk:
                break
            reply += chunk
    return {"bytes": int(reply or b"0")}


def redis_ping(host, port, count):
    round_trips = []
    with socket.create_connection((host, port), timeout=10) as connection:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(count):
            t0 = time.perf_counter()
            connection.sendall(b"*1\r\n$4\r\nPING\r\n")
            reply = b""
            while not reply.endswith(b"\r\n"):
                chunk = connection.recv(64)
                if not chunk:
                    raise ConnectionResetError("Redis closed the connection")
                reply += chunk
            round_trips.append((time.perf_counter() - t0) * 1e6)
            if reply != b"+PONG\r\n":
                raise RuntimeError(f"Redis answered {reply!r}")
    return {"round_trip_us": round_trips}


def handler(event, context=None):
    if event["op"] == "none":
        return {}
    if event["op"] == "send":
        return send(event["host"], int(event["port"]), int(event["bytes"]))
    if event["op"] == "redis_ping":
        return redis_ping(event["host"], int(event["port"]), int(event["count"]))
    raise ValueError(f"unknown op {event['op']!r}")


if __name__ == "__main__":
    print(json.dumps(handler(json.loads(sys.argv[1]))))
