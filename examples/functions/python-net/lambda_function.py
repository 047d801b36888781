"""Line exchanges with TCP servers outside the sandbox. With INIT_CONNECT=HOST:PORT it opens a
connection while it initializes and keeps it, as a function that connects to its database at
INIT does; SnapStart then snapshots that connection, and every restored clone holds a copy the
server has never heard of.

event: {"host": H, "port": P, "message": M}  a new connection: sends M, returns the reply line
       {"op": "init", "message": M}           the same on the connection opened at INIT
Either returns {"reply": LINE} or, when the connection fails, {"error": "ConnectionRefusedError",
"errno": 111} (a refusal, a reset, a timeout: the OSError's class and errno)."""

import os
import socket

_init_connection = None
if os.environ.get("INIT_CONNECT"):
    _host, _port = os.environ["INIT_CONNECT"].rsplit(":", 1)
    _init_connection = socket.create_connection((_host, int(_port)), timeout=10)


def _exchange(connection, message):
    connection.sendall(message.encode() + b"\n")
    reply = b""
    while not reply.endswith(b"\n"):
        chunk = connection.recv(4096)
        if not chunk:
            raise ConnectionResetError(104, "the server closed the connection")
        reply += chunk
    return reply.decode().rstrip("\n")


def handler(event, context):
    try:
        if event.get("op") == "init":
            return {"reply": _exchange(_init_connection, event["message"])}
        with socket.create_connection((event["host"], int(event["port"])), timeout=10) as connection:
            return {"reply": _exchange(connection, event["message"])}
    except OSError as e:
        return {"error": type(e).__name__, "errno": e.errno}
