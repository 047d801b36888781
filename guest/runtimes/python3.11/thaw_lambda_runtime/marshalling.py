"""Event decoding and result encoding with AWS's python3.11 rules, which are simplejson's:
a Decimal is written as its exact text (1.10 stays 1.10), bytes values and keys are decoded
as UTF-8, objects with _asdict (namedtuples) become JSON objects, non-ASCII is escaped, NaN
and the infinities are written as JavaScript's names. bytes results pass through as they are;
anything else simplejson cannot write (a bytearray, a set) is Runtime.MarshalError."""

import decimal
import math

import simplejson

from . import fault


class _Encoder(simplejson.JSONEncoder):
    def __init__(self):
        # use_decimal=False with default() below: simplejson's own Decimal support would write
        # a NaN Decimal as "NaN" or "-NaN", and "-NaN" is no JSON a reader takes.
        super().__init__(use_decimal=False, allow_nan=True)

    def default(self, obj):
        if isinstance(obj, decimal.Decimal):
            return math.nan if obj.is_nan() else simplejson.RawJSON(str(obj))
        return super().default(obj)


_encoder = _Encoder()


def to_json(obj):
    return _encoder.encode(obj)


def decode_event(body, content_type):
    if content_type and not content_type.startswith("application/json"):
        return body
    try:
        return simplejson.loads(body)
    except Exception as e:
        raise fault.FaultError(fault.UNMARSHAL_ERROR, "Unable to unmarshal input: %s" % e) from None


def encode_result(result):
    """Returns (body, content type)."""
    if isinstance(result, bytes):
        return result, "application/unknown"
    try:
        return _encoder.encode(result).encode("utf-8"), "application/json"
    except Exception as e:
        raise fault.FaultError(fault.MARSHAL_ERROR, "Unable to marshal response: %s" % e) from None
