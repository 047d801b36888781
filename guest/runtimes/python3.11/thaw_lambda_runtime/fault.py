"""Errors in the JSON shape Lambda reports them (errorMessage, errorType, requestId,
stackTrace) and the log record that goes with one."""

import os
import time
import traceback

MARSHAL_ERROR = "Runtime.MarshalError"
UNMARSHAL_ERROR = "Runtime.UnmarshalError"
USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
BEFORE_SNAPSHOT_ERROR = "Runtime.BeforeSnapshotError"
AFTER_RESTORE_ERROR = "Runtime.AfterRestoreError"
CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"

_RUNTIME_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


class FaultError(Exception):
    """A failure the runtime names itself (Runtime.*), not an exception of the user's code."""

    def __init__(self, error_type, message, stack_trace=None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stack_trace = stack_trace or []


def error_body(message, error_type, stack_trace, request_id=""):
    return {
        "errorMessage": message or "",
        "errorType": error_type or "",
        "requestId": request_id or "",
        "stackTrace": stack_trace or [],
    }


def from_fault(fault, request_id=""):
    return error_body(fault.message, fault.error_type, fault.stack_trace, request_id)


def stack_trace(tb):
    """The traceback's frames from the first one outside the runtime on (the import machinery
    of an init error stays, as on AWS), one entry per frame as traceback.format_list writes it
    for plain (file, line, function, text) tuples: without Python 3.11's caret lines."""
    frames = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(tb)]
    start = 0
    while start < len(frames) and frames[start][0].startswith(_RUNTIME_DIR):
        start += 1
    if start == len(frames):
        start = 0
    return traceback.format_list(frames[start:])


def from_exception(exc, request_id=""):
    return error_body(str(exc), type(exc).__name__, stack_trace(exc.__traceback__), request_id)


def text_record_lines(error):
    """The lines of the text record of an error: "[ERROR] Type: message", the traceback below
    with its indentation in no-break spaces (a log viewer that trims lines keeps it)."""
    head = "[ERROR]"
    if error.get("errorType"):
        head += " " + error["errorType"]
        if error.get("errorMessage"):
            head += ":"
    if error.get("errorMessage"):
        head += " " + error["errorMessage"]
    lines = [head]
    trace = error.get("stackTrace")
    if trace is not None:  # an empty trace still gets its header line, as on AWS
        lines.append("Traceback (most recent call last):")
        for entry in trace:
            if entry == "":
                lines.append("")
            for line in entry.splitlines():
                stripped = line.lstrip(" ")
                lines.append("\u00a0" * (len(line) - len(stripped)) + stripped)
    return lines


def log_error(error, sink, json_format=False):
    """One log record: the text lines above, or with AWS_LAMBDA_LOG_FORMAT=JSON the error's
    JSON with a timestamp and log_level in front."""
    if json_format:
        from .marshalling import to_json
        record = {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "log_level": "ERROR"}
        record.update(error)
        sink.log_error([to_json(record)], is_json=True)
    else:
        sink.log_error(text_record_lines(error))
