"""The context object handed to the handler, with the fields and methods of AWS Lambda's."""

import os
import time


class CognitoIdentity:
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, data=None):
        data = data or {}
        self.cognito_identity_id = data.get("cognitoIdentityId")
        self.cognito_identity_pool_id = data.get("cognitoIdentityPoolId")

    def __repr__(self):
        return "CognitoIdentity([cognito_identity_id=%s,cognito_identity_pool_id=%s])" % (
            self.cognito_identity_id, self.cognito_identity_pool_id)


class Client:
    __slots__ = ("installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name")

    def __init__(self, data):
        for name in self.__slots__:
            setattr(self, name, data.get(name))


class ClientContext:
    __slots__ = ("custom", "env", "client")

    def __init__(self, data):
        self.custom = data.get("custom")
        self.env = data.get("env")
        client = data.get("client")
        self.client = Client(client) if isinstance(client, dict) else None


class LambdaContext:
    """Per-invocation facts. memory_limit_in_mb is a string, as in AWS's runtime."""

    def __init__(self, request_id, deadline_ms, invoked_function_arn, client_context, cognito_identity):
        env = os.environ
        self.aws_request_id = request_id
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.invoked_function_arn = invoked_function_arn
        self.client_context = ClientContext(client_context) if isinstance(client_context, dict) else None
        self.identity = CognitoIdentity(cognito_identity if isinstance(cognito_identity, dict) else None)
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        remaining = self._deadline_ms - int(time.time() * 1000)
        return remaining if remaining > 0 else 0

    def log(self, message):
        import sys
        sys.stdout.write(str(message))

    def __repr__(self):
        return ("LambdaContext([aws_request_id=%s,log_group_name=%s,log_stream_name=%s,function_name=%s,"
                "memory_limit_in_mb=%s,function_version=%s,invoked_function_arn=%s,client_context=%s,identity=%s])"
                % (self.aws_request_id, self.log_group_name, self.log_stream_name, self.function_name,
                   self.memory_limit_in_mb, self.function_version, self.invoked_function_arn,
                   self.client_context, self.identity))
