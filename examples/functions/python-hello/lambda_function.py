"""Hello world: echoes the event and what the context says about this invocation."""


def handler(event, context):
    return {
        "message": "hello from thaw",
        "event": event,
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_time_in_millis": context.get_remaining_time_in_millis(),
    }
