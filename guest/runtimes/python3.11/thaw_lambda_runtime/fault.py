"""Errors in the JSON shape Lambda reports them: errorMessage, errorType, requestId, stackTrace."""

import os
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

_RUNTIME_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_IMPORTLIB_DIR = os.path.dirname(os.__file__) + os.sep + "importlib" + os.sep


def _is_runtime_frame(filename):
    """The runtime's own frames and the import machinery between it and the user's module."""
    return (filename.startswith(_RUNTIME_DIR + os.sep) or filename.startswith(_IMPORTLIB_DIR)
            or filename.startswith("<frozen importlib"))


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


def from_exception(exc, request_id=""):
    """The user's exception with its traceback, the runtime's own frames cut off the top."""
    frames = traceback.extract_tb(exc.__traceback__)
    start = 0
    while start < len(frames) and _is_runtime_frame(frames[start].filename):
        start += 1
    if start == len(frames):
        start = 0
    return error_body(str(exc), type(exc).__name__, traceback.format_list(frames[start:]), request_id)


def log_error(error, stream):
    """One log record, as Lambda writes it: lines joined by carriage returns so a line-based
    log forwarder keeps the traceback in one event."""
    head = "[ERROR]"
    if error.get("errorType"):
        head += " " + error["errorType"]
        if error.get("errorMessage"):
            head += ":"
    if error.get("errorMessage"):
        head += " " + error["errorMessage"]
    lines = [head]
    trace = error.get("stackTrace")
    if trace:
        lines.append("Traceback (most recent call last):")
        for entry in trace:
            for line in entry.splitlines():
                stripped = line.lstrip(" ")
                lines.append("\u00a0" * (len(line) - len(stripped)) + stripped)
    stream.write("\r".join(lines) + "\n")
