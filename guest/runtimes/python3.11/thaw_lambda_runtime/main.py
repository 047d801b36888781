"""The runtime's life: init (load the handler), the SnapStart checkpoint when asked for,
then invocation/next → handler → response or error, forever."""

import logging
import os
import sys
import time

from . import fault
from . import marshalling
from .handler_loader import load_handler
from .lambda_context import LambdaContext
from .runtime_api_client import RuntimeApiClient, RuntimeApiError

_current_request_id = ""


class _RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = _current_request_id
        return True


class _StdoutHandler(logging.Handler):
    def emit(self, record):
        try:
            sys.stdout.write(self.format(record))
        except Exception:
            self.handleError(record)


class _Unbuffered:
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


def _setup_logging():
    logging.Formatter.converter = time.gmtime
    handler = _StdoutHandler()
    handler.setFormatter(logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n", "%Y-%m-%dT%H:%M:%S"))
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    if level in logging._nameToLevel:
        root.setLevel(level)


def _setup_path(task_root):
    """/var/task first (the function's code and vendored packages), then layers, then the
    runtime's own directory (for snapshot_restore_py)."""
    runtime_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = [p for p in sys.path if p not in (runtime_dir, "")]
    front = [task_root, "/opt/python/lib/python3.11/site-packages", "/opt/python"]
    sys.path[:] = [p for p in front if p] + [p for p in paths if p not in front] + [runtime_dir]


def _report_init_failure(client, error, error_type=None):
    fault.log_error(error, sys.stdout)
    try:
        client.post_init_error(error, error_type)
    except RuntimeApiError as e:
        sys.stderr.write("thaw runtime: could not report the init error: %s\n" % e)


def _checkpoint(client):
    """SnapStart: before-snapshot hooks, wait for the restore, reseed, after-restore hooks."""
    from . import snapstart
    try:
        snapstart.run_before_snapshot()
    except Exception as e:
        _report_init_failure(client, fault.from_exception(e), fault.BEFORE_SNAPSHOT_ERROR)
        sys.exit(64)
    client.restore_next()
    snapstart.reseed_language_state()
    try:
        snapstart.run_after_restore()
    except Exception as e:
        error = fault.from_exception(e)
        fault.log_error(error, sys.stdout)
        try:
            client.post_restore_error(error, fault.AFTER_RESTORE_ERROR)
        except RuntimeApiError as post_error:
            sys.stderr.write("thaw runtime: could not report the restore error: %s\n" % post_error)
        sys.exit(65)


def _parse_json_header(value, name):
    if not value:
        return None
    import json
    try:
        return json.loads(value)
    except Exception as e:
        raise fault.FaultError(fault.CONTEXT_UNMARSHAL_ERROR, "Unable to parse %s JSON: %s" % (name, e)) from None


def _invoke(client, handler, request):
    global _current_request_id
    _current_request_id = request.request_id
    if request.trace_id is not None:
        os.environ["_X_AMZN_TRACE_ID"] = request.trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    try:
        context = LambdaContext(request.request_id, request.deadline_ms, request.invoked_function_arn,
                                _parse_json_header(request.client_context, "Client Context"),
                                _parse_json_header(request.cognito_identity, "Cognito Identity"))
        event = marshalling.decode_event(request.body, request.content_type)
        result = handler(event, context)
        body, content_type = marshalling.encode_result(result)
    except fault.FaultError as e:
        error = fault.from_fault(e, request.request_id)
    except Exception as e:
        error = fault.from_exception(e, request.request_id)
    else:
        reply = client.post_response(request.request_id, body, content_type)
        if reply.status != 202:
            sys.stderr.write("thaw runtime: response for %s refused (%d): %s\n"
                             % (request.request_id, reply.status, reply.body[:500].decode("utf-8", "replace")))
        return
    fault.log_error(error, sys.stdout)
    reply = client.post_error(request.request_id, error)
    if reply.status != 202:
        sys.stderr.write("thaw runtime: error for %s refused (%d)\n" % (request.request_id, reply.status))


def main():
    sys.stdout = _Unbuffered(sys.stdout)
    sys.stderr = _Unbuffered(sys.stderr)
    task_root = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
    _setup_path(task_root)
    try:
        os.chdir(task_root)
    except OSError:
        pass
    try:
        client = RuntimeApiClient(os.environ["AWS_LAMBDA_RUNTIME_API"])
    except KeyError:
        sys.stderr.write("thaw runtime: AWS_LAMBDA_RUNTIME_API is not set\n")
        sys.exit(1)
    except RuntimeApiError as e:
        sys.stderr.write("thaw runtime: %s\n" % e)
        sys.exit(1)
    _setup_logging()

    try:
        handler = load_handler(os.environ.get("_HANDLER", ""))
    except fault.FaultError as e:
        _report_init_failure(client, fault.from_fault(e))
        sys.exit(1)
    except Exception as e:
        _report_init_failure(client, fault.from_exception(e))
        sys.exit(1)

    try:
        if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
            _checkpoint(client)
        while True:
            _invoke(client, handler, client.next_invocation())
    except RuntimeApiError as e:
        sys.stderr.write("thaw runtime: %s\n" % e)
        sys.exit(1)
