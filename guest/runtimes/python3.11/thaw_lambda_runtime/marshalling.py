"""Event decoding and result encoding: JSON both ways, bytes passed through."""

import decimal
import json

from . import fault


def _default(obj):
    if isinstance(obj, decimal.Decimal):
        return int(obj) if obj == obj.to_integral_value() else float(obj)
    raise TypeError("Object of type %s is not JSON serializable" % type(obj).__name__)


def decode_event(body, content_type):
    if content_type and not content_type.startswith("application/json"):
        return body
    try:
        return json.loads(body) if body else None
    except Exception as e:
        raise fault.FaultError(fault.UNMARSHAL_ERROR, "Unable to unmarshal input: %s" % e) from None


def encode_result(result):
    """Returns (body bytes, content type)."""
    if isinstance(result, (bytes, bytearray)):
        return bytes(result), "application/unknown"
    try:
        return json.dumps(result, default=_default).encode("utf-8"), "application/json"
    except Exception as e:
        raise fault.FaultError(fault.MARSHAL_ERROR, "Unable to marshal response: %s" % e) from None
