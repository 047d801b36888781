"""A client of the Lambda Runtime API (version 2018-06-01) over one keep-alive connection.

Speaks just the HTTP/1.1 the Runtime API needs over a plain socket: importing http.client
costs about 40 ms (it pulls in the email package), more than the interpreter's own start,
and that would land on every cold start.
"""

import json
import select
import socket
import time

API_PREFIX = "/2018-06-01/runtime"
_MAX_HEADER_BYTES = 1024 * 1024 + 64 * 1024
_SIGNAL_SLICE_S = 0.2
UNHANDLED = "Unhandled"


class RuntimeApiError(Exception):
    """The Runtime API could not be reached or answered outside the protocol."""


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-cased names
        self.body = body


class InvocationRequest:
    """One event from invocation/next, with the headers the context is built from."""

    __slots__ = ("request_id", "deadline_ms", "invoked_function_arn", "trace_id",
                 "client_context", "cognito_identity", "tenant_id", "content_type", "body")

    def __init__(self, response):
        h = response.headers
        self.request_id = h.get("lambda-runtime-aws-request-id", "")
        try:
            self.deadline_ms = int(h.get("lambda-runtime-deadline-ms", "0"))
        except ValueError:
            self.deadline_ms = 0
        self.invoked_function_arn = h.get("lambda-runtime-invoked-function-arn")
        self.trace_id = h.get("lambda-runtime-trace-id")
        self.client_context = h.get("lambda-runtime-client-context")
        self.cognito_identity = h.get("lambda-runtime-cognito-identity")
        self.tenant_id = h.get("lambda-runtime-aws-tenant-id")
        self.content_type = h.get("content-type")
        self.body = response.body


class HttpConnection:
    """A persistent HTTP/1.1 connection; reconnects once when the server closed it."""

    def __init__(self, host, port, connect_deadline_s=1.0):
        self._address = (host, port)
        self._sock = None
        self._buf = b""
        self._connect(connect_deadline_s)

    def _connect(self, deadline_s):
        # The agent listens before it starts the runtime; retry briefly in case it is late.
        end = time.monotonic() + deadline_s
        while True:
            try:
                sock = socket.create_connection(self._address)
                break
            except OSError as e:
                if time.monotonic() >= end:
                    raise RuntimeApiError("cannot connect to the Runtime API at %s:%d: %s"
                                          % (self._address[0], self._address[1], e)) from None
                time.sleep(0.01)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._buf = b""

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def request(self, method, path, body=b"", headers=None):
        """Sends one request and returns its Response. Retries once on a fresh connection
        if the old one turns out closed before any byte of the answer arrived."""
        for attempt in (0, 1):
            if self._sock is None:
                self._connect(1.0)
            try:
                self._send(method, path, body, headers)
                return self._read_response()
            except (ConnectionError, _ClosedBeforeAnswer) as e:
                self.close()
                if attempt == 1:
                    raise RuntimeApiError("%s %s: connection to the Runtime API lost: %s"
                                          % (method, path, e)) from None
        raise AssertionError("unreachable")

    def _send(self, method, path, body, headers):
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s:%d" % self._address,
                 "User-Agent: thaw-python/3.11", "Content-Length: %d" % len(body)]
        if headers:
            for k, v in headers.items():
                if v is not None:
                    lines.append("%s: %s" % (k, v))
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if len(body) < 65536:
            self._sock.sendall(head + body)
        else:
            self._sock.sendall(head)
            self._sock.sendall(body)

    def _fill(self, first):
        # Waits in slices: Python runs signal handlers only in the main thread, between
        # bytecodes, and a signal the kernel hands to another thread (SIGTERM at SHUTDOWN, with
        # the function's own threads running) does not interrupt this thread's recv. Waking up
        # every 0.2 s lets the function's SIGTERM handler run within SHUTDOWN's 2 s.
        while not select.select([self._sock], [], [], _SIGNAL_SLICE_S)[0]:
            pass
        data = self._sock.recv(262144)
        if not data:
            if first and not self._buf:
                raise _ClosedBeforeAnswer("closed by the server")
            raise RuntimeApiError("the Runtime API closed the connection mid-response")
        self._buf += data

    def _read_response(self):
        first = True
        while True:
            end = self._buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self._buf) > _MAX_HEADER_BYTES:
                raise RuntimeApiError("response header too large")
            self._fill(first)
            first = False
        head = self._buf[:end].decode("latin-1")
        self._buf = self._buf[end + 4:]
        status_line, _, rest = head.partition("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise RuntimeApiError("bad status line from the Runtime API: %r" % status_line[:200])
        try:
            status = int(parts[1])
        except ValueError:
            raise RuntimeApiError("bad status line from the Runtime API: %r" % status_line[:200]) from None
        headers = {}
        for line in rest.split("\r\n"):
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                raise RuntimeApiError("bad Content-Length from the Runtime API") from None
            body = self._read_exact(length)
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, headers, body)

    def _read_exact(self, n):
        while len(self._buf) < n:
            self._fill(False)
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def _read_line(self):
        while True:
            i = self._buf.find(b"\r\n")
            if i >= 0:
                line, self._buf = self._buf[:i], self._buf[i + 2:]
                return line
            if len(self._buf) > _MAX_HEADER_BYTES:
                raise RuntimeApiError("chunk header too large")
            self._fill(False)

    def _read_chunked(self):
        chunks = []
        while True:
            size_line = self._read_line().split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise RuntimeApiError("bad chunk size from the Runtime API") from None
            if size == 0:
                while self._read_line():  # trailers up to the empty line
                    pass
                return b"".join(chunks)
            chunks.append(self._read_exact(size))
            self._read_exact(2)


class _ClosedBeforeAnswer(Exception):
    pass


class RuntimeApiClient:
    """The runtime's side of the Runtime API: next, response, error, init/error and the
    SnapStart pair restore/next and restore/error."""

    def __init__(self, address):
        host, sep, port = address.rpartition(":")
        if not sep or not host:
            raise RuntimeApiError("AWS_LAMBDA_RUNTIME_API must be host:port, not %r" % address)
        try:
            port_number = int(port)
        except ValueError:
            raise RuntimeApiError("AWS_LAMBDA_RUNTIME_API must be host:port, not %r" % address) from None
        self._conn = HttpConnection(host, port_number)

    def next_invocation(self):
        r = self._conn.request("GET", API_PREFIX + "/invocation/next")
        if r.status != 200:
            raise RuntimeApiError("invocation/next answered %d: %s" % (r.status, _text(r.body)))
        return InvocationRequest(r)

    def post_response(self, request_id, body, content_type):
        return self._conn.request("POST", API_PREFIX + "/invocation/%s/response" % request_id, body,
                                  {"Content-Type": content_type})

    def post_error(self, request_id, error):
        """An invocation's error. Lambda calls every error a function raised "Unhandled"
        (X-Amz-Function-Error); the body names the exception."""
        return self._post_error(API_PREFIX + "/invocation/%s/error" % request_id, error, UNHANDLED)

    def post_init_error(self, error, error_type=None):
        return self._post_error(API_PREFIX + "/init/error", error, error_type)

    def restore_next(self):
        """Blocks until the sandbox is restored from a snapshot (or, on a plain cold start
        under SnapStart, until the host decides no snapshot is taken)."""
        r = self._conn.request("GET", API_PREFIX + "/restore/next")
        if r.status != 200:
            raise RuntimeApiError("restore/next answered %d: %s" % (r.status, _text(r.body)))

    def post_restore_error(self, error, error_type):
        return self._post_error(API_PREFIX + "/restore/error", error, error_type)

    def _post_error(self, path, error, error_type=None):
        body = json.dumps(error).encode("utf-8")
        return self._conn.request("POST", path, body, {
            "Content-Type": "application/json",
            "Lambda-Runtime-Function-Error-Type": error_type or error.get("errorType") or UNHANDLED,
        })


def _text(body):
    return body[:500].decode("utf-8", "replace")
