"""SnapStart hooks around a live connection. The function runs its own TCP echo server in a
thread (inside the guest), connects to it during init, closes the connection in a
before-snapshot hook and reopens it in an after-restore hook. Each invocation returns the
hook events in order and proves the connection works with an echo round trip."""

import socket
import threading

from snapshot_restore_py import register_after_restore, register_before_snapshot

EVENTS = []


def _serve(listener):
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_echo, args=(conn,), daemon=True).start()


def _echo(conn):
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            conn.sendall(data)


_listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
_listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
_listener.bind(("127.0.0.1", 0))
_listener.listen(8)
PORT = _listener.getsockname()[1]
threading.Thread(target=_serve, args=(_listener,), daemon=True).start()

_connection = None


def _connect():
    global _connection
    _connection = socket.create_connection(("127.0.0.1", PORT), timeout=5)


_connect()
EVENTS.append("init:connected")


# Registered first, so it runs last before the snapshot (reverse order).
@register_before_snapshot
def _note_snapshot():
    EVENTS.append("before_snapshot:last")


def _close_connection(tag):
    global _connection
    _connection.close()
    _connection = None
    EVENTS.append("before_snapshot:closed:" + tag)


register_before_snapshot(_close_connection, "db")


@register_after_restore
def _reopen():
    _connect()
    EVENTS.append("after_restore:reconnected")


def _note_restored(tag, suffix=""):
    EVENTS.append("after_restore:" + tag + suffix)


register_after_restore(_note_restored, "second", suffix="!")


def handler(event, context):
    message = ((event or {}).get("message") or "ping").encode()
    _connection.sendall(message)
    echoed = b""
    while len(echoed) < len(message):
        echoed += _connection.recv(65536)
    return {"events": EVENTS, "echo": echoed.decode(), "connected": _connection is not None}
