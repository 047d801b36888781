def handler(event, context):
    return {"where": __name__, "event": event}
