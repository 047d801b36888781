"""The context object handed to the handler, with the fields, methods and reprs of AWS
Lambda's."""

import os
import sys
import time


def _repr(obj):
    fields = ",".join("%s=%s" % (name, getattr(obj, name)) for name in obj.__slots__)
    return "%s([%s])" % (type(obj).__name__, fields)


class _FromDict:
    __slots__ = ()

    def __init__(self, data=None):
        data = data or {}
        for name in self.__slots__:
            setattr(self, name, data.get(name))

    __repr__ = _repr


class CognitoIdentity(_FromDict):
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, data=None):
        data = data or {}
        super().__init__({"cognito_identity_id": data.get("cognitoIdentityId"),
                          "cognito_identity_pool_id": data.get("cognitoIdentityPoolId")})


class Client(_FromDict):
    __slots__ = ("installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name")


class ClientContext(_FromDict):
    __slots__ = ("custom", "env", "client")

    def __init__(self, data):
        super().__init__(data)
        self.client = Client(self.client) if isinstance(self.client, dict) else None


class LambdaContext:
    """Per-invocation facts. memory_limit_in_mb is a string, as in AWS's runtime."""

    def __init__(self, request_id, deadline_ms, invoked_function_arn, client_context, cognito_identity,
                 tenant_id=None, log_sink=None):
        env = os.environ
        self.aws_request_id = request_id
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = tenant_id
        self.client_context = ClientContext(client_context) if isinstance(client_context, dict) else None
        self.identity = CognitoIdentity(cognito_identity if isinstance(cognito_identity, dict) else None)
        self._deadline_ms = deadline_ms
        self._log_sink = log_sink

    def get_remaining_time_in_millis(self):
        remaining = self._deadline_ms - int(time.time() * 1000)
        return remaining if remaining > 0 else 0

    def log(self, message):
        """One log event, the text as it is (no line end added)."""
        if self._log_sink is not None:
            self._log_sink.log(str(message))
        else:
            sys.stdout.write(str(message))

    def __repr__(self):
        return ("LambdaContext([aws_request_id=%s,log_group_name=%s,log_stream_name=%s,function_name=%s,"
                "memory_limit_in_mb=%s,function_version=%s,invoked_function_arn=%s,client_context=%s,identity=%s,"
                "tenant_id=%s])"
                % (self.aws_request_id, self.log_group_name, self.log_stream_name, self.function_name,
                   self.memory_limit_in_mb, self.function_version, self.invoked_function_arn,
                   self.client_context, self.identity, self.tenant_id))
