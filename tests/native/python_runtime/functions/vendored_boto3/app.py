import boto3


def handler(event, context):
    return {"boto3": boto3.__version__}
