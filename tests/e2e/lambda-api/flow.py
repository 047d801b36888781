#!/usr/bin/python3
"""thaw serve against clients nobody here wrote: Debian's boto3 and AWS CLI v2, unmodified.

Starts `thaw serve` on a free loopback port with a data directory of its own, then drives the
whole Lambda flow through boto3 (create, waiters, sync/Event/DryRun invokes, errors, Tail logs,
client context, versions, an alias with weights, a code update, SnapStart with a restore,
delete), the same once through `aws lambda ... --endpoint-url` with the runtime in a layer, and last a second server with
--auth sigv4: the right keys pass, wrong ones get botocore's ClientError with the 403 code.
Needs KVM (/dev/kvm, or run inside the emulated KVM host).

usage: flow.py THAW WORKDIR
"""
import base64
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import zipfile

import boto3
import botocore.config
import botocore.exceptions

THAW, WORK = sys.argv[1], sys.argv[2]
REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/lambda-role"

FUNCTION_V1 = '''
import json, os
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail: " + str(event["fail"]))
    if "mark" in event:
        print("EVENT-SEEN " + event["mark"], flush=True)
    cc = context.client_context
    return {"code": "v1", "event": event, "version": context.function_version,
            "custom": cc.custom if cc else None, "request_id": context.aws_request_id}
'''
FUNCTION_V2 = FUNCTION_V1.replace('"code": "v1"', '"code": "v2"')
SHELL_BOOTSTRAP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../examples/functions/provided-shell/bootstrap")

started = time.monotonic()


def step(name):
    print(f"[{time.monotonic() - started:6.1f} s] {name}", flush=True)


def check(cond, what, detail=""):
    if not cond:
        raise AssertionError(f"{what}: {detail}")


def zip_of(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, (text, mode) in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            z.writestr(info, text)
    return buf.getvalue()


class Server:
    """One `thaw serve` on a free port; its log (the functions' lines too) in WORK/NAME.log."""

    def __init__(self, name, *extra):
        self.port_file = os.path.join(WORK, name + ".port")
        self.log_path = os.path.join(WORK, name + ".log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([THAW, "--data-dir", os.path.join(WORK, "data"), "serve", "--listen",
                                      "127.0.0.1:0", "--port-file", self.port_file,
                                      # Re-encoding snapshots (the engine's kvm test covers it) would
                                      # share the one emulated CPU with these invocations.
                                      "--snapshot-zstd-level", "0", *extra],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None:
                raise AssertionError(f"thaw serve exited with {self.proc.returncode}:\n" + open(self.log_path).read())
            time.sleep(0.1)
        self.url = "http://127.0.0.1:" + open(self.port_file).read().strip()

    def client(self, key="test", secret="test"):
        return boto3.client("lambda", endpoint_url=self.url, region_name=REGION, aws_access_key_id=key,
                            aws_secret_access_key=secret,
                            config=botocore.config.Config(read_timeout=300, retries={"max_attempts": 0}))

    def wait_for_log(self, text):
        for _ in range(600):
            if text in open(self.log_path).read():
                return
            time.sleep(0.5)
        raise AssertionError(f"'{text}' never appeared in the server's log")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=120)
        check(rc == 0, "thaw serve exits 0 at SIGTERM", rc)
        self.log.close()


def invoke(client, name, event, **kw):
    r = client.invoke(FunctionName=name, Payload=json.dumps(event).encode(), **kw)
    return r, json.loads(r["Payload"].read() or b"null")


def boto3_flow(server):
    c = server.client()
    step("CreateFunction (python3.11, ZipFile) and the function_active_v2 waiter")
    created = c.create_function(FunctionName="echo", Runtime="python3.11", Role=ROLE,
                                Handler="lambda_function.handler", Timeout=30,
                                Code={"ZipFile": zip_of({"lambda_function.py": (FUNCTION_V1, 0o644)})},
                                Environment={"Variables": {"GREETING": "hi"}})
    check(created["State"] in ("Pending", "Active"), "a new function is Pending or Active", created["State"])
    check(created["Role"] == ROLE, "the role is kept", created["Role"])
    c.get_waiter("function_active_v2").wait(FunctionName="echo")
    conf = c.get_function_configuration(FunctionName="echo")
    check(conf["State"] == "Active" and conf["LastUpdateStatus"] == "Successful", "Active after the waiter", conf)
    check(conf["Environment"]["Variables"] == {"GREETING": "hi"}, "environment kept", conf)

    step("Invoke RequestResponse: the payload echoed, no FunctionError, ClientContext in the context")
    ctx = base64.b64encode(json.dumps({"custom": {"tenant": "t1"}}).encode()).decode()
    r, body = invoke(c, "echo", {"hello": "thaw"}, ClientContext=ctx)
    check(r["StatusCode"] == 200 and "FunctionError" not in r, "a sync invoke succeeds", r)
    check(body["event"] == {"hello": "thaw"} and body["code"] == "v1", "the event comes back", body)
    check(body["custom"] == {"tenant": "t1"}, "the client context reaches the function", body)
    check(r["ExecutedVersion"] == "$LATEST", "executed version", r["ExecutedVersion"])
    check(r["ResponseMetadata"]["RequestId"] == body["request_id"], "x-amzn-RequestId is the invocation's id",
          (r["ResponseMetadata"]["RequestId"], body["request_id"]))

    step("Invoke of a function that raises: FunctionError Unhandled and Lambda's error JSON")
    r, body = invoke(c, "echo", {"fail": "on purpose"})
    check(r.get("FunctionError") == "Unhandled", "X-Amz-Function-Error", r)
    check(body["errorType"] == "ValueError" and "on purpose" in body["errorMessage"], "error JSON", body)
    check(isinstance(body.get("stackTrace"), list) and body["stackTrace"], "a stack trace", body)

    step("LogType Tail: the decoded log ends with the REPORT line")
    r, body = invoke(c, "echo", {"tail": 1}, LogType="Tail")
    log = base64.b64decode(r["LogResult"]).decode()
    check("START RequestId: " + body["request_id"] in log and "REPORT RequestId: " + body["request_id"] in log,
          "START and REPORT in the tail", log)
    # The same lines in the function's log directory, read beside the running server.
    logs = subprocess.run([THAW, "--data-dir", os.path.join(WORK, "data"), "logs", "echo", "--json"], check=True,
                          capture_output=True, text=True, timeout=60).stdout
    events = [json.loads(line) for line in logs.splitlines()]
    report = [e for e in events if e["message"].startswith("REPORT RequestId: " + body["request_id"])]
    check(len(report) == 1 and report[0]["logStreamName"].split("/")[-1].startswith("[$LATEST]"),
          "thaw logs: the REPORT line in a $LATEST stream", logs)

    step("Event: 202 at once, the function's effect shows in its log")
    r = c.invoke(FunctionName="echo", InvocationType="Event", Payload=json.dumps({"mark": "m-123"}).encode())
    check(r["StatusCode"] == 202, "an Event invocation is accepted", r)
    server.wait_for_log("EVENT-SEEN m-123")

    step("EventInvokeConfig: Put/Update/Get/List/Delete; outcomes go to local queues with Lambda's destination record")
    try:
        c.get_function_event_invoke_config(FunctionName="echo")
        raise AssertionError("a configuration nobody put was found")
    except c.exceptions.ResourceNotFoundException:
        pass
    try:
        c.put_function_event_invoke_config(FunctionName="echo", MaximumRetryAttempts=3)
        raise AssertionError("MaximumRetryAttempts 3 was taken")
    except (c.exceptions.InvalidParameterValueException, botocore.exceptions.ParamValidationError):
        pass
    queue_arn = "arn:aws:sqs:" + REGION + ":123456789012:"
    put = c.put_function_event_invoke_config(
        FunctionName="echo", MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": queue_arn + "echo-failed"}})
    check(put["MaximumRetryAttempts"] == 0 and put["MaximumEventAgeInSeconds"] == 21600, "PutFunctionEventInvokeConfig", put)
    updated = c.update_function_event_invoke_config(
        FunctionName="echo", DestinationConfig={"OnSuccess": {"Destination": queue_arn + "echo-done"},
                                                "OnFailure": {"Destination": queue_arn + "echo-failed"}})
    check(updated["MaximumRetryAttempts"] == 0 and updated["DestinationConfig"]["OnSuccess"]["Destination"].endswith(
        ":echo-done"), "UpdateFunctionEventInvokeConfig keeps what it does not name", updated)
    got = c.get_function_event_invoke_config(FunctionName="echo")
    check(got["FunctionArn"].endswith(":function:echo:$LATEST"), "GetFunctionEventInvokeConfig", got)
    listed = c.list_function_event_invoke_configs(FunctionName="echo")["FunctionEventInvokeConfigs"]
    check(len(listed) == 1, "ListFunctionEventInvokeConfigs", listed)
    ok = c.invoke(FunctionName="echo", InvocationType="Event", Payload=json.dumps({"mark": "m-ok"}).encode())
    bad = c.invoke(FunctionName="echo", InvocationType="Event", Payload=json.dumps({"fail": "in an event"}).encode())

    def receive(queue):
        for _ in range(600):
            out = subprocess.run([THAW, "--data-dir", os.path.join(WORK, "data"), "queue", "receive", queue, "--json"],
                                 check=True, capture_output=True, text=True, timeout=60).stdout
            if out.strip():
                return [json.loads(json.loads(line)["Body"]) for line in out.splitlines()]
            time.sleep(0.5)
        raise AssertionError("nothing arrived in the queue " + queue)
    done, failed = receive("echo-done"), receive("echo-failed")
    check(len(done) == 1 and done[0]["requestContext"]["condition"] == "Success" and
          done[0]["requestContext"]["requestId"] == ok["ResponseMetadata"]["RequestId"] and
          done[0]["requestPayload"] == {"mark": "m-ok"} and done[0]["responsePayload"]["code"] == "v1",
          "the on-success record", done)
    check(len(failed) == 1 and failed[0]["requestContext"]["condition"] == "RetriesExhausted" and
          failed[0]["requestContext"]["approximateInvokeCount"] == 1 and
          failed[0]["requestContext"]["requestId"] == bad["ResponseMetadata"]["RequestId"] and
          failed[0]["responseContext"]["functionError"] == "Unhandled" and
          failed[0]["responsePayload"]["errorType"] == "ValueError", "the on-failure record", failed)
    c.delete_function_event_invoke_config(FunctionName="echo")
    check(c.list_function_event_invoke_configs(FunctionName="echo")["FunctionEventInvokeConfigs"] == [], "deleted", "")

    step("DryRun: 204; errors: a missing function, a 7 MB payload, a bad payload")
    r = c.invoke(FunctionName="echo", InvocationType="DryRun")
    check(r["StatusCode"] == 204, "DryRun", r)
    for call, exc in [(lambda: c.invoke(FunctionName="nope", Payload=b"{}"), c.exceptions.ResourceNotFoundException),
                      (lambda: c.get_function(FunctionName="nope"), c.exceptions.ResourceNotFoundException),
                      (lambda: c.invoke(FunctionName="echo", Payload=b"x" * (7 << 20)),
                       c.exceptions.RequestTooLargeException),
                      (lambda: c.invoke(FunctionName="echo", Payload=b"not json"),
                       c.exceptions.InvalidRequestContentException),
                      (lambda: c.create_function(FunctionName="echo", Runtime="python3.11", Role=ROLE,
                                                 Handler="x.y", Code={"ZipFile": b"PK"}),
                       c.exceptions.ResourceConflictException)]:
        try:
            call()
            raise AssertionError(f"expected {exc.__name__}")
        except exc:
            pass

    step("PublishVersion 1, then UpdateFunctionCode (function_updated_v2): $LATEST runs the new code")
    v1 = c.publish_version(FunctionName="echo", Description="first")
    check(v1["Version"] == "1", "version 1", v1)
    c.get_waiter("published_version_active").wait(FunctionName="echo", Qualifier="1")
    c.update_function_code(FunctionName="echo", ZipFile=zip_of({"lambda_function.py": (FUNCTION_V2, 0o644)}))
    c.get_waiter("function_updated_v2").wait(FunctionName="echo")
    r, body = invoke(c, "echo", {})
    check(body["code"] == "v2", "the new code runs", body)
    v2 = c.publish_version(FunctionName="echo")
    check(v2["Version"] == "2", "version 2", v2)
    versions = [v["Version"] for v in c.list_versions_by_function(FunctionName="echo")["Versions"]]
    check(versions == ["$LATEST", "1", "2"], "ListVersionsByFunction", versions)
    page = c.list_versions_by_function(FunctionName="echo", MaxItems=2)
    rest = c.list_versions_by_function(FunctionName="echo", Marker=page["NextMarker"])
    check(len(page["Versions"]) == 2 and [v["Version"] for v in rest["Versions"]] == ["2"], "paging", (page, rest))

    step("An alias on version 1 sending half its invocations to version 2")
    alias = c.create_alias(FunctionName="echo", Name="live", FunctionVersion="1",
                           RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
    check(alias["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.5}, "routing kept", alias)
    seen = [invoke(c, "echo", {}, Qualifier="live")[0]["ExecutedVersion"] for _ in range(4)]
    check(sorted(seen) == ["1", "1", "2", "2"], "half the alias's invocations ran version 2", seen)
    try:
        c.update_alias(FunctionName="echo", Name="live", RevisionId="stale")
        raise AssertionError("a stale RevisionId was taken")
    except c.exceptions.PreconditionFailedException:
        pass
    c.update_alias(FunctionName="echo", Name="live", FunctionVersion="2", RoutingConfig={"AdditionalVersionWeights": {}})
    check(c.get_alias(FunctionName="echo", Name="live").get("RoutingConfig") is None, "routing removed",
          c.get_alias(FunctionName="echo", Name="live"))
    check([a["Name"] for a in c.list_aliases(FunctionName="echo")["Aliases"]] == ["live"], "ListAliases", "")

    step("SnapStart: PublishVersion takes a snapshot (published_version_active), the version starts restored")
    c.update_function_configuration(FunctionName="echo", SnapStart={"ApplyOn": "PublishedVersions"})
    c.get_waiter("function_updated_v2").wait(FunctionName="echo")
    v3 = c.publish_version(FunctionName="echo")
    c.get_waiter("published_version_active").wait(FunctionName="echo", Qualifier=v3["Version"],
                                                  WaiterConfig={"Delay": 2, "MaxAttempts": 300})
    conf = c.get_function_configuration(FunctionName="echo", Qualifier=v3["Version"])
    check(conf["SnapStart"]["OptimizationStatus"] == "On", "SnapStart on for the version", conf)
    r, body = invoke(c, "echo", {"restored": True}, Qualifier=v3["Version"], LogType="Tail")
    log = base64.b64decode(r["LogResult"]).decode()
    check(body["code"] == "v2" and "Restore Duration: " in log, "the version was restored", log)
    check(body["version"] == v3["Version"], "the restored clone's context names its version", body)

    step("Provisioned concurrency on the SnapStart version: IN_PROGRESS then READY, its invoke starts nothing")
    try:
        c.put_provisioned_concurrency_config(FunctionName="echo", Qualifier="$LATEST",
                                             ProvisionedConcurrentExecutions=1)
        raise AssertionError("$LATEST was provisioned")
    except c.exceptions.InvalidParameterValueException:
        pass
    r = c.put_provisioned_concurrency_config(FunctionName="echo", Qualifier=v3["Version"],
                                             ProvisionedConcurrentExecutions=1)
    check(r["RequestedProvisionedConcurrentExecutions"] == 1 and r["Status"] in ("IN_PROGRESS", "READY"),
          "PutProvisionedConcurrencyConfig", r)
    for _ in range(600):
        got = c.get_provisioned_concurrency_config(FunctionName="echo", Qualifier=v3["Version"])
        if got["Status"] != "IN_PROGRESS":
            break
        time.sleep(0.5)
    check(got["Status"] == "READY" and got["AllocatedProvisionedConcurrentExecutions"] == 1, "READY", got)
    r, body = invoke(c, "echo", {"provisioned": True}, Qualifier=v3["Version"], LogType="Tail")
    log = base64.b64decode(r["LogResult"]).decode()
    check("Restore Duration" not in log and "Init Duration" not in log, "the provisioned sandbox ran it", log)
    listed = c.list_provisioned_concurrency_configs(FunctionName="echo")["ProvisionedConcurrencyConfigs"]
    check([p["FunctionArn"].rsplit(":", 1)[1] for p in listed] == [v3["Version"]], "ListProvisionedConcurrencyConfigs",
          listed)
    c.delete_provisioned_concurrency_config(FunctionName="echo", Qualifier=v3["Version"])
    try:
        c.get_provisioned_concurrency_config(FunctionName="echo", Qualifier=v3["Version"])
        raise AssertionError("a deleted configuration was found")
    except c.exceptions.ProvisionedConcurrencyConfigNotFoundException:
        pass

    step("Reserved concurrency: Put/Get/DeleteFunctionConcurrency, GetAccountSettings; reserved 0 throttles")
    account = c.get_account_settings()
    limit = account["AccountLimit"]["ConcurrentExecutions"]
    check(account["AccountLimit"]["UnreservedConcurrentExecutions"] == limit and account["AccountUsage"]["FunctionCount"] == 1,
          "GetAccountSettings", account)
    r = c.put_function_concurrency(FunctionName="echo", ReservedConcurrentExecutions=2)
    check(r["ReservedConcurrentExecutions"] == 2, "PutFunctionConcurrency", r)
    check(c.get_function_concurrency(FunctionName="echo")["ReservedConcurrentExecutions"] == 2, "GetFunctionConcurrency", "")
    check(c.get_function(FunctionName="echo")["Concurrency"] == {"ReservedConcurrentExecutions": 2}, "in GetFunction", "")
    check(c.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == limit - 2, "taken off the account", "")
    r, body = invoke(c, "echo", {})
    check("FunctionError" not in r, "an invoke under the reservation runs", body)
    try:
        c.put_function_concurrency(FunctionName="echo", ReservedConcurrentExecutions=limit)
        raise AssertionError("a reservation of the whole account was taken")
    except c.exceptions.InvalidParameterValueException:
        pass
    c.put_function_concurrency(FunctionName="echo", ReservedConcurrentExecutions=0)
    try:
        invoke(c, "echo", {})
        raise AssertionError("reserved concurrency 0 did not throttle")
    except c.exceptions.TooManyRequestsException as e:
        check(e.response.get("Reason") == "ReservedFunctionConcurrentInvocationLimitExceeded", "the throttle's Reason",
              e.response)
    c.delete_function_concurrency(FunctionName="echo")
    check("ReservedConcurrentExecutions" not in c.get_function_concurrency(FunctionName="echo"), "deleted", "")
    r, body = invoke(c, "echo", {})
    check("FunctionError" not in r, "the function runs again", body)

    step("GET /metrics (Prometheus text): the invocations, the error, the throttle, the Event and the restore")
    text = urllib.request.urlopen(server.url + "/metrics", timeout=60).read().decode()

    def metric(name, **labels):
        want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "") + " "
        found = [line for line in text.splitlines() if line.startswith(want)]
        check(len(found) == 1, "one sample " + want, text)
        return float(found[0][len(want):])
    latest = {"function_name": "echo", "executed_version": "$LATEST"}
    check(metric("lambda_invocations_total", **latest) >= 5, "invocations of $LATEST", text)
    check(metric("lambda_errors_total", **latest) >= 1, "the raised error", text)
    check(metric("lambda_throttles_total", **latest) == 1, "the reserved-0 throttle", text)
    check(metric("lambda_async_events_received_total") >= 3, "the Events", text)
    check(metric("lambda_async_events_failed_total") >= 1 and metric("lambda_async_events_queued") == 0,
          "the failed Event, none queued", text)
    check(metric("lambda_restore_duration_milliseconds_count", function_name="echo", executed_version=v3["Version"]) >= 1,
          "the SnapStart restore", text)

    top = json.loads(subprocess.run([THAW, "top", "--endpoint", server.url.removeprefix("http://"), "--json"],
                                    check=True, capture_output=True, text=True, timeout=60).stdout)
    echo = [f for f in top["functions"] if f["function_name"] == "echo"]
    check(len(echo) == 1 and echo[0]["invocations"] >= 5 and echo[0]["throttles"] == 1, "thaw top --json", top)

    step("ListFunctions with FunctionVersion=ALL; DeleteFunction")
    listed = c.list_functions(FunctionVersion="ALL")["Functions"]
    check(sorted(f["Version"] for f in listed if f["FunctionName"] == "echo") == ["$LATEST", "1", "2", "3"],
          "every version listed", [f["Version"] for f in listed])
    c.delete_alias(FunctionName="echo", Name="live")
    c.delete_function(FunctionName="echo")
    try:
        c.get_function(FunctionName="echo")
        raise AssertionError("a deleted function was found")
    except c.exceptions.ResourceNotFoundException:
        pass


def aws(server, *args):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION=REGION,
               AWS_PAGER="", HOME=WORK)
    out = subprocess.run(["/usr/bin/aws", "lambda", *args, "--endpoint-url", server.url, "--cli-read-timeout", "0"],
                         env=env, capture_output=True, text=True)
    check(out.returncode == 0, "aws lambda " + args[0], out.stderr)
    return out.stdout


def cli_flow(server):
    step("The AWS CLI: publish-layer-version (the bootstrap), create-function (provided.al2023) with that layer, "
         "wait function-active-v2, invoke, delete-function, delete-layer-version")
    layer_zip = os.path.join(WORK, "shell-runtime.zip")
    with open(layer_zip, "wb") as f:
        f.write(zip_of({"bootstrap": (open(SHELL_BOOTSTRAP).read(), 0o755)}))
    layer = json.loads(aws(server, "publish-layer-version", "--layer-name", "shell-runtime", "--zip-file",
                           "fileb://" + layer_zip, "--compatible-runtimes", "provided.al2023"))
    check(layer["Version"] == 1 and layer["LayerVersionArn"] == layer["LayerArn"] + ":1", "the first layer version",
          layer)
    listed = json.loads(aws(server, "list-layers", "--compatible-runtime", "provided.al2023"))["Layers"]
    check([l["LayerName"] for l in listed] == ["shell-runtime"], "list-layers", listed)
    zip_path = os.path.join(WORK, "shell.zip")
    with open(zip_path, "wb") as f:
        f.write(zip_of({"function.sh": ("# the Runtime API loop is the layer's /opt/bootstrap\n", 0o644)}))
    created = json.loads(aws(server, "create-function", "--function-name", "shell", "--runtime", "provided.al2023",
                             "--role", ROLE, "--handler", "function.handler", "--zip-file", "fileb://" + zip_path,
                             "--layers", layer["LayerVersionArn"]))
    check(created["Runtime"] == "provided.al2023", "runtime kept", created)
    check([l["Arn"] for l in created["Layers"]] == [layer["LayerVersionArn"]], "the function's layers", created)
    aws(server, "wait", "function-active-v2", "--function-name", "shell")
    out_path = os.path.join(WORK, "out.json")
    meta = json.loads(aws(server, "invoke", "--function-name", "shell", "--cli-binary-format", "raw-in-base64-out",
                          "--payload", '{"from": "cli"}', out_path))
    check(meta["StatusCode"] == 200 and "FunctionError" not in meta, "the CLI's invoke", meta)
    body = json.load(open(out_path))
    check(body["echo"] == {"from": "cli"} and body["request_id"], "the shell function's answer", body)
    aws(server, "delete-function", "--function-name", "shell")
    aws(server, "delete-layer-version", "--layer-name", "shell-runtime", "--version-number", "1")
    left = json.loads(aws(server, "list-layer-versions", "--layer-name", "shell-runtime"))["LayerVersions"]
    check(left == [], "no versions left after delete-layer-version", left)


def sigv4_flow():
    step("--auth sigv4: the right keys pass, wrong keys get ClientError 403")
    creds = os.path.join(WORK, "credentials")
    with open(creds, "w") as f:
        f.write("[default]\naws_access_key_id = AKIDTHAWTEST\naws_secret_access_key = s3cr3t/key\n")
    server = Server("sigv4", "--auth", "sigv4", "--credentials", creds)
    try:
        server.client("AKIDTHAWTEST", "s3cr3t/key").list_functions()
        for key, secret, code in [("AKIDTHAWTEST", "wrong", "InvalidSignatureException"),
                                  ("AKIDOTHER", "s3cr3t/key", "UnrecognizedClientException")]:
            try:
                server.client(key, secret).list_functions()
                raise AssertionError("wrong credentials were accepted")
            except botocore.exceptions.ClientError as e:
                check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 403, "403", e.response)
                check(e.response["Error"]["Code"] == code, "the error code", e.response["Error"])
    finally:
        server.stop()


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    server = Server("serve")
    try:
        boto3_flow(server)
        cli_flow(server)
    except BaseException:
        print("---- thaw serve's log (end) ----\n" + open(server.log_path).read()[-20000:], flush=True)
        raise
    finally:
        server.stop()
    sigv4_flow()
    step("all passed")
    shutil.rmtree(WORK)  # kept when something failed, with the servers' logs


if __name__ == "__main__":
    main()
