"""Handlers the runtime's native tests invoke (one image-less code directory, many handlers)."""

import logging


def context_fields(event, context):
    cc = context.client_context
    return {
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_time_in_millis": context.get_remaining_time_in_millis(),
        "client_custom": cc.custom if cc else None,
        "client_app_title": cc.client.app_title if cc and cc.client else None,
        "cognito_identity_id": context.identity.cognito_identity_id,
        "cognito_identity_pool_id": context.identity.cognito_identity_pool_id,
        "event": event,
    }


def marshal_error(event, context):
    return {"a set": {1, 2, 3}}


def returns_bytes(event, context):
    return b"\x00raw\xffbytes"


def logs(event, context):
    print("printed line")
    logging.getLogger().warning("warned %s", "here")
    return "logged"


def exits(event, context):
    raise SystemExit(7)
