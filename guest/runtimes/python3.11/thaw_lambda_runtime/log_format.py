"""Python's `logging` set up as AWS's python3.11 runtime sets it: records of the root logger
go to the log sink, one record one event, in Lambda's text format or, with
AWS_LAMBDA_LOG_FORMAT=JSON, as AWS's JSON records; AWS_LAMBDA_LOG_LEVEL sets the root
logger's level (TRACE counts as DEBUG; unset, Python's WARNING stays)."""

import json
import logging
import os
import time
import traceback

TEXT_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"
TEXT_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
JSON_DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# LogRecord's own attributes and the runtime's: everything else a record carries (logging's
# `extra=`) becomes a field of its JSON record.
_RECORD_ATTRIBUTES = frozenset((
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info",
    "exc_text", "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread",
    "threadName", "processName", "process", "aws_request_id", "tenant_id"))

_json_text = json.JSONEncoder(ensure_ascii=False, default=str).encode


def json_format_wanted():
    return os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON"


def level_wanted():
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL")
    if not level:
        return ""
    level = level.upper()
    return "DEBUG" if level == "TRACE" else level


def _plain_level(levelno):
    return min(50, max(0, levelno)) // 10 * 10


class JsonFormatter(logging.Formatter):
    def __init__(self):
        super().__init__(datefmt=JSON_DATE_FORMAT)

    def format(self, record):
        record.levelno = _plain_level(record.levelno)
        record.levelname = logging.getLevelName(record.levelno)
        exc = record.exc_info
        fields = {
            "timestamp": self.formatTime(record, self.datefmt),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "stackTrace": traceback.format_tb(exc[2]) if exc else None,
            "errorType": exc[0].__name__ if exc else None,
            "errorMessage": str(exc[1]) if exc else None,
            "requestId": getattr(record, "aws_request_id", None),
            "location": "%s:%s:%s" % (record.pathname, record.funcName, record.lineno) if exc else None,
        }
        if getattr(record, "tenant_id", None) is not None:
            fields["tenantId"] = record.tenant_id
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and key not in fields:
                fields[key] = value
        return _json_text({k: v for k, v in fields.items() if v is not None}) + "\n"


class _SinkHandler(logging.Handler):
    def __init__(self, sink, is_json):
        super().__init__()
        self.log_sink = sink
        self._is_json = is_json

    def emit(self, record):
        try:
            self.log_sink.log(self.format(record), record.levelno, self._is_json)
        except Exception:
            self.handleError(record)


class InvocationFilter(logging.Filter):
    """Stamps every record with the request (and tenant) being served."""

    request_id = ""
    tenant_id = None

    def filter(self, record):
        record.aws_request_id = InvocationFilter.request_id
        record.tenant_id = InvocationFilter.tenant_id
        return True


def setup_logging(sink, is_json, level):
    logging.Formatter.converter = time.gmtime
    handler = _SinkHandler(sink, is_json)
    handler.setFormatter(JsonFormatter() if is_json else logging.Formatter(TEXT_FORMAT, TEXT_DATE_FORMAT))
    handler.addFilter(InvocationFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    if level in logging._nameToLevel:
        root.setLevel(level)
