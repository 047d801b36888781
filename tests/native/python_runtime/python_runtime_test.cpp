// The python3.11 runtime (guest/runtimes/python3.11) against a scripted Runtime API: the
// real bootstrap and interface client, run by Debian's python3.11, talking HTTP to the small
// recording server in run_scenario.py, which sees every request and header the runtime
// sends. real_server_test.cpp runs the runtime against thaw's own RuntimeApiServer.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "guest/image/host_command.h"
#include "guest/image/image_builder.h"
#include "tests/native/python_runtime/runtime_scenario.h"

namespace {
using namespace thaw::test;

constexpr const char* kNext = "GET /2018-06-01/runtime/invocation/next";

TEST_F(PythonRuntime, HelloReturnsEventAndContextOverOneKeepAliveConnection) {
  Scenario r{example("python-hello")};
  r.scenario["events"] = events({R"({"name": "thaw"})", R"([1, 2])"});
  auto j = run(r);
  auto responses = requests(j, "/response");
  ASSERT_EQ(responses.size(), 2u) << j.dump(2);
  EXPECT_EQ(responses[0]["path"], "/2018-06-01/runtime/invocation/req-0/response");
  auto body = json::parse(responses[0]["body"].get<std::string>());
  EXPECT_EQ(body["message"], "hello from thaw");
  EXPECT_EQ(body["event"], json({{"name", "thaw"}}));
  EXPECT_EQ(body["aws_request_id"], "req-0");
  EXPECT_EQ(body["function_name"], "test");
  EXPECT_EQ(body["function_version"], "$LATEST");
  EXPECT_EQ(body["memory_limit_in_mb"], "256");
  EXPECT_EQ(body["invoked_function_arn"], "arn:aws:lambda:us-east-1:123456789012:function:test");
  EXPECT_EQ(body["log_group_name"], "/aws/lambda/test");
  EXPECT_EQ(body["log_stream_name"], "2026/01/01/[$LATEST]abcdef");
  EXPECT_GT(body["remaining_time_in_millis"].get<int>(), 0);
  EXPECT_LE(body["remaining_time_in_millis"].get<int>(), 60000);
  EXPECT_EQ(responses[0]["headers"]["Content-Type"], "application/json");
  EXPECT_EQ(json::parse(responses[1]["body"].get<std::string>())["event"], json({1, 2}));
  // next, response, next, response, next: all on the first connection.
  auto first_port = j["requests"][0]["peer_port"];
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(j["requests"][i]["peer_port"], first_port) << i;
  EXPECT_EQ(paths(j)[0], kNext);
}

TEST_F(PythonRuntime, ChunkedEventBodyAndContextHeaders) {
  Scenario r{kCases, "cases.context_fields"};
  r.scenario["events"] = json::array({{{"body", R"({"chunked": "yes, in pieces of seven bytes"})"},
                                       {"chunked", true},
                                       {"headers",
                                        {{"Lambda-Runtime-Client-Context",
                                          R"({"custom": {"k": "v"}, "client": {"app_title": "app"}, "env": {}})"},
                                         {"Lambda-Runtime-Cognito-Identity",
                                          R"({"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"})"}}}}});
  auto j = run(r);
  auto responses = requests(j, "/response");
  ASSERT_EQ(responses.size(), 1u) << j.dump(2);
  auto body = json::parse(responses[0]["body"].get<std::string>());
  EXPECT_EQ(body["event"]["chunked"], "yes, in pieces of seven bytes");
  EXPECT_EQ(body["client_custom"], json({{"k", "v"}}));
  EXPECT_EQ(body["client_app_title"], "app");
  EXPECT_EQ(body["cognito_identity_id"], "id-1");
  EXPECT_EQ(body["cognito_identity_pool_id"], "pool-1");
}

TEST_F(PythonRuntime, HandlerExceptionIsReportedInLambdasShapeAndTheRuntimeGoesOn) {
  Scenario r{example("python-handler-error")};
  r.scenario["events"] = events({R"({"x": 1})", R"({"x": 2})"});
  auto j = run(r);
  auto errors = requests(j, "/error");
  ASSERT_EQ(errors.size(), 2u) << j.dump(2);
  EXPECT_EQ(errors[0]["path"], "/2018-06-01/runtime/invocation/req-0/error");
  EXPECT_EQ(errors[0]["headers"]["Lambda-Runtime-Function-Error-Type"], "Unhandled") << "Lambda's word for it";
  auto body = json::parse(errors[0]["body"].get<std::string>());
  EXPECT_EQ(body["errorType"], "ValueError");
  EXPECT_EQ(body["errorMessage"], "bad input: {'x': 1}");
  EXPECT_EQ(body["requestId"], "req-0");
  ASSERT_EQ(body["stackTrace"].size(), 2u);  // handler → _check; the runtime's frames cut off
  EXPECT_NE(body["stackTrace"][0].get<std::string>().find("lambda_function.py\", line 9, in handler"),
            std::string::npos);
  EXPECT_NE(body["stackTrace"][1].get<std::string>().find("in _check"), std::string::npos);
  EXPECT_NE(j["stdout"].get<std::string>().find("[ERROR] ValueError: bad input"), std::string::npos);
  EXPECT_EQ(json::parse(errors[1]["body"].get<std::string>())["requestId"], "req-1");
}

TEST_F(PythonRuntime, ExceptionDuringInitIsAnInitErrorWithTheExceptionsType) {
  Scenario r{example("python-init-error")};
  r.scenario["events"] = events({"{}"});
  auto j = run(r);
  EXPECT_EQ(j["exit_code"], 1);
  ASSERT_EQ(j["requests"].size(), 1u) << j.dump(2);  // no invocation/next after a failed init
  auto req = j["requests"][0];
  EXPECT_EQ(req["path"], "/2018-06-01/runtime/init/error");
  auto body = json::parse(req["body"].get<std::string>());
  EXPECT_EQ(body["errorType"], "RuntimeError");
  EXPECT_EQ(body["errorMessage"], "configuration missing: DATABASE_URL is not set");
  // As on AWS: the runtime's own frames are cut off, the import machinery's stay.
  ASSERT_GE(body["stackTrace"].size(), 2u) << body.dump(2);
  EXPECT_NE(body["stackTrace"][0].get<std::string>().find("importlib/__init__.py\", line"), std::string::npos)
      << body.dump(2);
  EXPECT_NE(body["stackTrace"].back().get<std::string>().find("in <module>"), std::string::npos) << body.dump(2);
}

TEST_F(PythonRuntime, HandlerResolutionFailuresHaveLambdasErrorTypes) {
  struct Case {
    std::string handler, type, message;
  } cases[] = {
      {"no_such_module.handler", "Runtime.ImportModuleError",
       "Unable to import module 'no_such_module': No module named 'no_such_module'"},
      {"cases.no_such_function", "Runtime.HandlerNotFound", "Handler 'no_such_function' missing on module 'cases'"},
      {"nodot", "Runtime.MalformedHandlerName", "Bad handler 'nodot'"},
      {"syntax_error.handler", "Runtime.UserCodeSyntaxError", "Syntax error in module 'syntax_error'"},
      {"sys.handler", "Runtime.BuiltInModuleConflict", "Cannot use built-in module sys"},
  };
  for (const auto& c : cases) {
    Scenario r{kCases, c.handler};
    r.scenario["events"] = events({"{}"});
    auto j = run(r);
    EXPECT_EQ(j["exit_code"], 1) << c.handler;
    auto errs = requests(j, "/init/error");
    ASSERT_EQ(errs.size(), 1u) << c.handler << j.dump(2);
    EXPECT_EQ(errs[0]["headers"]["Lambda-Runtime-Function-Error-Type"], c.type);
    auto body = json::parse(errs[0]["body"].get<std::string>());
    EXPECT_EQ(body["errorType"], c.type);
    EXPECT_NE(body["errorMessage"].get<std::string>().find(c.message), std::string::npos) << body.dump();
  }
}

TEST_F(PythonRuntime, NestedPackageHandlersInBothSpellings) {
  for (std::string h : {"pkg.sub.nested.handler", "pkg/sub/nested.handler"}) {
    Scenario r{kCases, h};
    r.scenario["events"] = events({R"("hi")"});
    auto j = run(r);
    auto responses = requests(j, "/response");
    ASSERT_EQ(responses.size(), 1u) << h << j.dump(2);
    EXPECT_EQ(json::parse(responses[0]["body"].get<std::string>()), json({{"where", "pkg.sub.nested"}, {"event", "hi"}}));
  }
}

TEST_F(PythonRuntime, ResultsThatAreNotJsonAndEventsThatAreNot) {
  Scenario r{kCases, "cases.marshal_error"};
  r.scenario["events"] = events({"{}"});
  auto j = run(r);
  auto errors = requests(j, "/error");
  ASSERT_EQ(errors.size(), 1u) << j.dump(2);
  auto body = json::parse(errors[0]["body"].get<std::string>());
  EXPECT_EQ(body["errorType"], "Runtime.MarshalError");
  EXPECT_NE(body["errorMessage"].get<std::string>().find("Unable to marshal response"), std::string::npos);

  Scenario bad_event{kCases, "cases.context_fields"};
  bad_event.scenario["events"] = events({"{not json"});
  j = run(bad_event);
  errors = requests(j, "/error");
  ASSERT_EQ(errors.size(), 1u) << j.dump(2);
  EXPECT_EQ(json::parse(errors[0]["body"].get<std::string>())["errorType"], "Runtime.UnmarshalError");

  Scenario bytes{kCases, "cases.returns_bytes"};
  bytes.scenario["events"] = events({"{}"});
  j = run(bytes);
  auto responses = requests(j, "/response");
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0]["body_bytes"], 10);  // b"\x00raw\xffbytes", unchanged
  EXPECT_EQ(responses[0]["headers"]["Content-Type"], "application/unknown");
}

TEST_F(PythonRuntime, OutputAndLogRecordsReachStdoutBeforeACrash) {
  Scenario r{kCases, "cases.logs"};
  r.scenario["events"] = events({"{}"});
  auto j = run(r);
  auto out = j["stdout"].get<std::string>();
  EXPECT_NE(out.find("printed line\n"), std::string::npos) << out;
  EXPECT_NE(out.find("[WARNING]\t"), std::string::npos) << out;
  EXPECT_NE(out.find("\treq-0\twarned here\n"), std::string::npos) << out;

  Scenario crash{example("python-crash")};
  crash.scenario["events"] = events({R"({"exit_code": 3})"});
  j = run(crash);
  EXPECT_EQ(j["exit_code"], 3);
  EXPECT_EQ(j["stdout"], "about to crash\n");  // flushed before os._exit
  EXPECT_TRUE(requests(j, "/response").empty());

  Scenario exits{kCases, "cases.exits"};
  exits.scenario["events"] = events({"{}"});
  j = run(exits);
  EXPECT_EQ(j["exit_code"], 7);  // sys.exit in a handler ends the runtime, as in Lambda
}

TEST_F(PythonRuntime, LargeResponseOfExactlySixMiB) {
  Scenario r{example("python-large-response")};
  r.scenario["events"] = events({"{}"});
  auto j = run(r);
  auto responses = requests(j, "/response");
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0]["body_bytes"], 6 * 1024 * 1024);
}

TEST_F(PythonRuntime, SnapStartHooksRunInLambdasOrderAroundRestoreNext) {
  Scenario r{example("python-snapstart-hooks")};
  r.scenario["init_type"] = "snap-start";
  r.scenario["events"] = events({R"({"message": "after restore"})"});
  auto j = run(r);
  auto p = paths(j);
  ASSERT_GE(p.size(), 3u) << j.dump(2);
  EXPECT_EQ(p[0], "GET /2018-06-01/runtime/restore/next");
  EXPECT_EQ(p[1], kNext);
  auto responses = requests(j, "/response");
  ASSERT_EQ(responses.size(), 1u) << j.dump(2);
  auto body = json::parse(responses[0]["body"].get<std::string>());
  EXPECT_EQ(body["events"], json({"init:connected", "before_snapshot:closed:db", "before_snapshot:last",
                                  "after_restore:reconnected", "after_restore:second!"}));
  EXPECT_EQ(body["echo"], "after restore");
  EXPECT_EQ(body["connected"], true);

  // Without SnapStart there is no checkpoint and no hook runs.
  Scenario plain{example("python-snapstart-hooks")};
  plain.scenario["events"] = events({"{}"});
  j = run(plain);
  EXPECT_EQ(paths(j)[0], kNext);
  responses = requests(j, "/response");
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(json::parse(responses[0]["body"].get<std::string>())["events"], json({"init:connected"}));
}

TEST_F(PythonRuntime, FailingBeforeSnapshotHookIsAnInitError) {
  Scenario r{kCases, "failing_before_snapshot.handler"};
  r.scenario["init_type"] = "snap-start";
  r.scenario["events"] = events({"{}"});
  auto j = run(r);
  EXPECT_EQ(j["exit_code"], 64);
  ASSERT_EQ(j["requests"].size(), 1u) << j.dump(2);
  EXPECT_EQ(j["requests"][0]["path"], "/2018-06-01/runtime/init/error");
  EXPECT_EQ(j["requests"][0]["headers"]["Lambda-Runtime-Function-Error-Type"], "Runtime.BeforeSnapshotError");
  auto body = json::parse(j["requests"][0]["body"].get<std::string>());
  EXPECT_EQ(body["errorType"], "OSError");
  EXPECT_EQ(body["errorMessage"], "cannot flush the cache before the snapshot");
}

TEST_F(PythonRuntime, FailingAfterRestoreHookIsARestoreError) {
  Scenario r{kCases, "failing_after_restore.handler"};
  r.scenario["init_type"] = "snap-start";
  r.scenario["events"] = events({"{}"});
  auto j = run(r);
  EXPECT_EQ(j["exit_code"], 65);
  auto p = paths(j);
  ASSERT_EQ(p.size(), 2u) << j.dump(2);
  EXPECT_EQ(p[0], "GET /2018-06-01/runtime/restore/next");
  EXPECT_EQ(p[1], "POST /2018-06-01/runtime/restore/error");
  EXPECT_EQ(j["requests"][1]["headers"]["Lambda-Runtime-Function-Error-Type"], "Runtime.AfterRestoreError");
  auto body = json::parse(j["requests"][1]["body"].get<std::string>());
  EXPECT_EQ(body["errorType"], "ConnectionRefusedError");
  EXPECT_EQ(body["errorMessage"], "cannot reconnect to db.internal");
  ASSERT_FALSE(body["stackTrace"].empty());
  EXPECT_NE(body["stackTrace"].back().get<std::string>().find("in _reconnect"), std::string::npos);
}

TEST_F(PythonRuntime, RandomIsReseededAfterRestoreOnly) {
  auto expected = seeded_random_stream();
  Scenario plain{kCases, "seeded_random.handler"};
  plain.scenario["events"] = events({"{}"});
  auto j = run(plain);
  auto responses = requests(j, "/response");
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(json::parse(responses[0]["body"].get<std::string>()), expected);  // the test can fail

  Scenario snap = plain;
  snap.scenario["init_type"] = "snap-start";
  j = run(snap);
  responses = requests(j, "/response");
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_NE(json::parse(responses[0]["body"].get<std::string>()), expected);
}

TEST_F(PythonRuntime, ProvidedShellBootstrapWithBusyboxWget) {
  // The guest's PATH: busybox applets only.
  auto bin = tmp_ / "bin";
  fs::create_directories(bin);
  for (const char* applet : {"sh", "wget", "sed", "head", "cat"}) fs::create_symlink("/bin/busybox", bin / applet);
  Scenario r{example("provided-shell"), "ignored"};
  r.python = "";
  r.bootstrap = example("provided-shell") + "/bootstrap";
  r.scenario["events"] = events({R"({"n": 1})", R"([true, null])"});
  r.scenario["env"] = {{"PATH", bin.string()}};
  auto j = run(r);
  auto responses = requests(j, "/response");
  ASSERT_EQ(responses.size(), 2u) << j.dump(2);
  EXPECT_EQ(json::parse(responses[0]["body"].get<std::string>()), json({{"echo", {{"n", 1}}}, {"request_id", "req-0"}}));
  EXPECT_EQ(json::parse(responses[1]["body"].get<std::string>()),
            json({{"echo", json::array({true, nullptr})}, {"request_id", "req-1"}}));
}

TEST_F(PythonRuntime, RuntimeRunsFromItsOwnImageInAChroot) {
  if (geteuid() != 0 || access("/usr/sbin/chroot", X_OK) != 0 || access("/usr/bin/cpio", X_OK) != 0)
    GTEST_SKIP() << "needs root, chroot and cpio";
  thaw::image::ImageBuildOptions o;
  o.function.runtime = thaw::image::Runtime::kPython311;
  o.function.handler = "lambda_function.handler";
  o.code_dir = example("python-hello");
  o.out_dir = (tmp_ / "image").string();
  o.agent_path = "/bin/busybox";  // /init is not run here
  o.runtimes_dir = kSource + "/guest/runtimes";
  o.runtime_libraries = thaw::image::RuntimeLibraries::kAlways;  // python-hello itself does not name boto3
  thaw::image::build_image(o);
  auto root = tmp_ / "root";
  fs::create_directories(root);
  auto unpack = thaw::image::run_host_command(
      {"/bin/sh", "-c", "cd '" + root.string() + "' && /usr/bin/cpio -idm --quiet < '" + o.out_dir + "/initramfs.cpio'"});
  ASSERT_EQ(unpack.exit_status, 0);

  // Only what the image holds: its interpreter, libraries, stdlib, runtime and code.
  Scenario r{"/var/task"};
  r.chroot = root.string();
  r.bootstrap = "/var/runtime/bootstrap";
  r.scenario["events"] = events({R"({"in": "chroot"})"});
  auto j = run(r);
  auto responses = requests(j, "/response");
  ASSERT_EQ(responses.size(), 1u) << j.dump(2);
  EXPECT_EQ(json::parse(responses[0]["body"].get<std::string>())["event"], json({{"in", "chroot"}}));
  // The stdlib modules the runtime and a typical function load import from the image.
  auto check = thaw::image::run_host_command(
      {"/usr/sbin/chroot", root.string(), "/usr/bin/python3.11", "-c",
       "import ssl, hashlib, json, sqlite3, ctypes, decimal, lzma, bz2, uuid, asyncio, zoneinfo, urllib.request; "
       "print('ok')"});
  EXPECT_EQ(check.exit_status, 0);
  EXPECT_EQ(check.out, "ok\n");
  // The runtime's libraries, botocore's models read from their gzipped copies.
  check = thaw::image::run_host_command(
      {"/usr/sbin/chroot", root.string(), "/usr/bin/python3.11", "-c",
       "import site; site.addsitedir('/var/lang/lib/python3.11/site-packages'); import boto3, simplejson; "
       "c = boto3.client('dynamodb', region_name='eu-west-1', aws_access_key_id='a', aws_secret_access_key='b'); "
       "print(boto3.__file__, 'PutItem' in c.meta.service_model.operation_names)"});
  EXPECT_EQ(check.exit_status, 0) << check.out;
  EXPECT_EQ(check.out, "/var/lang/lib/python3.11/site-packages/boto3/__init__.py True\n");
  EXPECT_FALSE(fs::exists(root / "var/lang/lib/python3.11/site-packages/botocore/data/dynamodb/2012-08-10/service-2.json"));
  EXPECT_TRUE(fs::exists(root / "var/lang/lib/python3.11/site-packages/botocore/data/dynamodb/2012-08-10/service-2.json.gz"));
}

}  // namespace
