"""Where the runtime's log records go. Under thaw's agent (and on AWS) that is a pipe named by
_LAMBDA_TELEMETRY_LOG_FD on which each record is one frame, so a record keeps its lines
together and never runs into the next one:

    type (4 bytes) | length (4) | timestamp, µs since the epoch (8) | message (length bytes)

big-endian; the type is 0xA55A0000 plus the record's format and level, as AWS's runtimes
number them. Without that descriptor (the runtime run by hand) records go to stdout, an
error's lines joined by carriage returns as AWS's runtime does for a line-based reader."""

import os
import sys
import time

TELEMETRY_FD_VARIABLE = "_LAMBDA_TELEMETRY_LOG_FD"

_MAGIC = 0xA55A0000
_TEXT = 0x1


def frame_type(levelno, is_json):
    """0 (no level), DEBUG ... CRITICAL as 1 + levelno // 10; two bits up, 0x2 set, 0x1 for text."""
    code = 0 if levelno < 10 else 1 + min(50, levelno) // 10
    return _MAGIC | (code << 2) | 0x2 | (0 if is_json else _TEXT)


class FramedLogSink:
    def __init__(self, fd):
        self._fd = fd

    def log(self, message, levelno=0, is_json=False):
        data = message.encode("utf-8", "backslashreplace")
        header = (frame_type(levelno, is_json).to_bytes(4, "big") + len(data).to_bytes(4, "big")
                  + (time.time_ns() // 1000).to_bytes(8, "big"))
        view = memoryview(header + data)
        while view:
            try:
                view = view[os.write(self._fd, view):]
            except InterruptedError:
                continue

    def log_error(self, lines, is_json=False):
        self.log("\n".join(lines), 40, is_json)


class StdoutLogSink:
    def log(self, message, levelno=0, is_json=False):
        sys.stdout.write(message)

    def log_error(self, lines, is_json=False):
        sys.stdout.write("\r".join(lines) + "\n")


def open_log_sink():
    """The framed sink when the agent passed a descriptor, else stdout. The variable is taken
    out of the environment and the descriptor is not inherited: the function's subprocesses
    write to stdout, as their own."""
    value = os.environ.pop(TELEMETRY_FD_VARIABLE, None)
    if value is not None:
        try:
            fd = int(value)
            os.set_inheritable(fd, False)
            return FramedLogSink(fd)
        except (ValueError, OSError) as e:
            sys.stderr.write("thaw runtime: %s=%r is no open descriptor (%s); logging to stdout\n"
                             % (TELEMETRY_FD_VARIABLE, value, e))
    return StdoutLogSink()


class RecordWriter:
    """sys.stdout and sys.stderr over a framed sink: what the function prints becomes one log
    event per print (print's text and its line end arrive as two writes; a record is sent once a
    write ends a line), and whatever is left without a line end goes out on flush()."""

    def __init__(self, stream, sink):
        self._stream = stream
        self._sink = sink
        self._pending = []

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError("write() argument must be str, not %s" % type(text).__name__)
        self._pending.append(text)
        if text.endswith("\n"):
            self.flush()
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        if self._pending:
            text = "".join(self._pending)
            self._pending = []
            if text:
                self._sink.log(text)

    def isatty(self):
        return False

    def __getattr__(self, name):
        return getattr(self._stream, name)


class Unbuffered:
    """Flushes after every write, so output reaches the agent before a crash or a timeout
    kills the process, and interleaves with the runtime's own records in order."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        n = self._stream.write(text)
        self._stream.flush()
        return n

    def writelines(self, lines):
        self._stream.writelines(lines)
        self._stream.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)
