// Handlers run by the official aws-lambda-ric client against thaw's Runtime API
// (tests/native/runtime_api/aws_lambda_ric_test.cpp).
export const handler = async (event, context) => {
  switch (event.action) {
    case "throw":
      throw new TypeError(`asked to fail: ${event.message}`);
    case "large":
      // A JSON string of `size` characters: the response body is size + 2 bytes (the quotes).
      return "x".repeat(event.size);
    default:
      return {
        echo: event,
        requestId: context.awsRequestId,
        functionArn: context.invokedFunctionArn,
        deadlineInFuture: context.getRemainingTimeInMillis() > 0,
        clientContext: context.clientContext ?? null,
        identity: context.identity ?? null,
      };
  }
};
