"""The runtime's life: init (sys.path, logging, the handler), the SnapStart checkpoint when
asked for, then invocation/next → handler → response or error, forever."""

import logging
import os
import site
import sys

from . import fault
from . import marshalling
from .handler_loader import load_handler
from .lambda_context import LambdaContext
from .log_format import InvocationFilter, json_format_wanted, level_wanted, setup_logging
from .log_sink import FramedLogSink, RecordWriter, Unbuffered, open_log_sink
from .runtime_api_client import RuntimeApiClient, RuntimeApiError

OPT_SITE_PACKAGES = "/opt/python/lib/python3.11/site-packages"
OPT_PYTHON = "/opt/python"
UNHANDLED_EXCEPTION_WARNING = ("LAMBDA_WARNING: Unhandled exception. The most likely cause is an issue in the "
                               "function code; a change of the runtime is the rarer one.")


class _Runtime:
    def __init__(self, client, sink, json_format):
        self.client = client
        self.sink = sink
        self.json_format = json_format

    def log_error(self, error):
        fault.log_error(error, self.sink, self.json_format)

    def fail(self, error, post, what, exit_code):
        """Logs the error, reports it with `post` (the Runtime API call for `what`), exits."""
        self.log_error(error)
        try:
            post(error)
        except RuntimeApiError as e:
            sys.stderr.write("thaw runtime: could not report the %s: %s\n" % (what, e))
        sys.exit(exit_code)

    def fail_init(self, error):
        logging.warning(UNHANDLED_EXCEPTION_WARNING)
        self.fail(error, self.client.post_init_error, "init error", 1)

    def checkpoint(self):
        """SnapStart: before-snapshot hooks, wait for the restore, reseed, after-restore hooks.
        A failure up to the restore is the INIT's (Runtime.BeforeSnapshotError, exit 64)."""
        from . import snapstart
        try:
            snapstart.run_before_snapshot()
            self.client.restore_next()
        except Exception as e:
            self.fail(fault.from_exception(e), lambda error: self.client.post_init_error(error, fault.BEFORE_SNAPSHOT_ERROR),
                      "init error", 64)
        snapstart.reseed_language_state()
        try:
            snapstart.run_after_restore()
        except Exception as e:
            self.fail(fault.from_exception(e), lambda error: self.client.post_restore_error(error, fault.AFTER_RESTORE_ERROR),
                      "restore error", 65)

    def invoke(self, handler, request):
        InvocationFilter.request_id = request.request_id
        InvocationFilter.tenant_id = request.tenant_id
        if request.trace_id is not None:
            os.environ["_X_AMZN_TRACE_ID"] = request.trace_id
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        try:
            context = LambdaContext(request.request_id, request.deadline_ms, request.invoked_function_arn,
                                    _parse_json_header(request.client_context, "Client Context"),
                                    _parse_json_header(request.cognito_identity, "Cognito Identity"),
                                    request.tenant_id, self.sink)
            event = marshalling.decode_event(request.body, request.content_type)
            result = handler(event, context)
            body, content_type = marshalling.encode_result(result)
        except fault.FaultError as e:
            error = fault.from_fault(e, request.request_id)
        except Exception as e:
            error = fault.from_exception(e, request.request_id)
        else:
            _flush_output()
            reply = self.client.post_response(request.request_id, body, content_type)
            if reply.status != 202:
                sys.stderr.write("thaw runtime: response for %s refused (%d): %s\n"
                                 % (request.request_id, reply.status, reply.body[:500].decode("utf-8", "replace")))
            return
        _flush_output()
        self.log_error(error)
        reply = self.client.post_error(request.request_id, error)
        if reply.status != 202:
            sys.stderr.write("thaw runtime: error for %s refused (%d)\n" % (request.request_id, reply.status))


def _parse_json_header(value, name):
    if not value:
        return None
    try:
        import json
        return json.loads(value)
    except Exception as e:
        raise fault.FaultError(fault.CONTEXT_UNMARSHAL_ERROR, "Unable to parse %s JSON: %s" % (name, e)) from None


def _flush_output():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def setup_path(task_root):
    """As AWS's launcher: the function's code first, then the layers' two directories (unless
    the function sets PYTHONPATH), each also a site directory so that the .pth files of vendored
    packages work; the runtime's own directory last. Child processes get PYTHONPATH=/var/runtime
    unless the function set its own."""
    runtime_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    pythonpath_set = "PYTHONPATH" in os.environ
    front = [task_root] + ([] if pythonpath_set else [OPT_SITE_PACKAGES, OPT_PYTHON])
    sys.path[:] = front + [p for p in sys.path if p not in front and p not in (runtime_dir, "")] + [runtime_dir]
    for directory in front:
        site.addsitedir(directory)
    if not pythonpath_set:
        os.environ["PYTHONPATH"] = os.environ.get("LAMBDA_RUNTIME_DIR", runtime_dir)


def main():
    sink = open_log_sink()
    if isinstance(sink, FramedLogSink):
        sys.stdout = RecordWriter(sys.stdout, sink)
        sys.stderr = RecordWriter(sys.stderr, sink)
    else:
        sys.stdout = Unbuffered(sys.stdout)
        sys.stderr = Unbuffered(sys.stderr)
    task_root = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
    setup_path(task_root)
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
    json_format = json_format_wanted()
    setup_logging(sink, json_format, level_wanted())
    runtime = _Runtime(client, sink, json_format)

    try:
        handler = load_handler(os.environ.get("_HANDLER", ""))
    except fault.FaultError as e:
        runtime.fail_init(fault.from_fault(e))
    except Exception as e:
        runtime.fail_init(fault.from_exception(e))

    try:
        if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
            runtime.checkpoint()
        while True:
            runtime.invoke(handler, client.next_invocation())
    except RuntimeApiError as e:
        sys.stderr.write("thaw runtime: %s\n" % e)
        sys.exit(1)
