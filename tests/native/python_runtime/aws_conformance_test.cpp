// What a function written for AWS Lambda's python3.11 runtime expects of the runtime, checked
// natively against the function files in tests/conformance/python3.11 (the kvm tier runs the
// same files in a guest: tests/kvm/engine/aws_conformance_test.cpp). Expected bytes are
// AWS's, from its runtime interface client (awslambdaric) and its python3.11 launcher.
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "guest/image/host_command.h"
#include "tests/native/python_runtime/runtime_scenario.h"

namespace {
using namespace thaw::test;

const std::string kHandler = "aws-compat.handler";

json case_event(const std::string& name, json extra = json::object()) {
  extra["case"] = name;
  return {{"body", extra.dump()}};
}

class AwsConformance : public PythonRuntime {
 protected:
  // Runs the cases in order, as one runtime's invocations, with the telemetry pipe.
  json run_cases(std::vector<json> events, json env = json::object(), std::string handler = kHandler) {
    Scenario r{kConformance, std::move(handler)};
    r.scenario["events"] = events;
    r.scenario["env"] = std::move(env);
    r.scenario["telemetry"] = true;
    return run(r);
  }
  static std::string body_of(const json& request) { return request["body"].get<std::string>(); }
  // The frames' texts, their timestamps made "<ts>". Left out: the runtime's complaint that the
  // connection was lost, which run_scenario.py causes when it stops the runtime at the end.
  static std::vector<std::string> frame_texts(const json& run) {
    static const std::regex stamp(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z)");
    std::vector<std::string> out;
    for (const auto& f : run["frames"]) {
      auto text = f["text"].get<std::string>();
      if (text.starts_with("thaw runtime: GET /2018-06-01/runtime/invocation/next: connection to the Runtime API lost"))
        continue;
      out.push_back(std::regex_replace(text, stamp, "<ts>"));
    }
    return out;
  }
};

TEST_F(AwsConformance, MarshallingFollowsSimplejsonAsAwsDoes) {
  auto j = run_cases({case_event("decimal"), case_event("bytes"), case_event("namedtuple"), case_event("non_ascii"),
                      case_event("raw_bytes"), case_event("bytearray"), {{"body", ""}}});
  auto answers = requests(j, "/response");
  ASSERT_EQ(answers.size(), 5u) << j.dump(2);
  EXPECT_EQ(body_of(answers[0]), R"({"exact": 1.10, "long": 12345678901234567890, "nan": NaN})");
  EXPECT_EQ(body_of(answers[1]), R"({"key": "value", "list": ["a", "\u00e9"]})");
  EXPECT_EQ(body_of(answers[2]), R"({"point": {"x": 1, "y": 2}})");
  EXPECT_EQ(body_of(answers[3]), R"({"text": "caf\u00e9 \u2603 \ud83d\ude00"})");
  EXPECT_EQ(answers[2]["headers"]["Content-Type"], "application/json");
  EXPECT_EQ(answers[4]["body_bytes"], 4);  // b"\x00raw", passed through
  EXPECT_EQ(answers[4]["headers"]["Content-Type"], "application/unknown");

  auto errors = requests(j, "/error");
  ASSERT_EQ(errors.size(), 2u) << j.dump(2);
  EXPECT_EQ(body_of(errors[0]),
            R"({"errorMessage": "Unable to marshal response: Object of type bytearray is not JSON serializable", )"
            R"("errorType": "Runtime.MarshalError", "requestId": "req-5", "stackTrace": []})");
  EXPECT_EQ(json::parse(body_of(errors[1])),
            json({{"errorMessage", "Unable to unmarshal input: Expecting value: line 1 column 1 (char 0)"},
                  {"errorType", "Runtime.UnmarshalError"},
                  {"requestId", "req-6"},
                  {"stackTrace", json::array()}}));
}

TEST_F(AwsConformance, UncaughtExceptionIsUnhandledWithAwsErrorJsonAndOneLogEvent) {
  auto j = run_cases({case_event("raise", {{"what", "news"}})});
  auto errors = requests(j, "/error");
  ASSERT_EQ(errors.size(), 1u) << j.dump(2);
  EXPECT_EQ(errors[0]["headers"]["Lambda-Runtime-Function-Error-Type"], "Unhandled");
  std::string file = kConformance + "/aws-compat.py";
  json expected = {
      {"errorMessage", "bad news"},
      {"errorType", "ValueError"},
      {"requestId", "req-0"},
      {"stackTrace",
       {"  File \"" + file + "\", line 86, in handler\n    return CASES[event[\"case\"]](event, context)\n",
        "  File \"" + file + "\", line 65, in _raise\n    raise ValueError(\"bad \" + event.get(\"what\", \"input\"))\n"}}};
  EXPECT_EQ(json::parse(body_of(errors[0])), expected) << "no caret lines, the runtime's frames cut off";
  const std::string nbsp = "\u00a0";
  auto frames = frame_texts(j);
  ASSERT_EQ(frames.size(), 1u) << j.dump(2);
  EXPECT_EQ(frames[0], "[ERROR] ValueError: bad news\nTraceback (most recent call last):\n" + nbsp + nbsp + "File \"" +
                           file + "\", line 86, in handler\n" + nbsp + nbsp + nbsp + nbsp +
                           "return CASES[event[\"case\"]](event, context)\n" + nbsp + nbsp + "File \"" + file +
                           "\", line 65, in _raise\n" + nbsp + nbsp + nbsp + nbsp +
                           "raise ValueError(\"bad \" + event.get(\"what\", \"input\"))");
  EXPECT_EQ(j["frames"][0]["type"], 0xA55A0017) << "a text record at ERROR";
}

TEST_F(AwsConformance, InitErrorKeepsItsFramesAfterTheLambdaWarning) {
  auto j = run_cases({case_event("never")}, json::object(), "init_error.handler");
  EXPECT_EQ(j["exit_code"], 1);
  auto init = requests(j, "/init/error");
  ASSERT_EQ(init.size(), 1u) << j.dump(2);
  EXPECT_EQ(init[0]["headers"]["Lambda-Runtime-Function-Error-Type"], "RuntimeError");
  auto body = json::parse(body_of(init[0]));
  EXPECT_EQ(body["errorType"], "RuntimeError");
  EXPECT_EQ(body["errorMessage"], "INIT failed on purpose");
  auto trace = body["stackTrace"];
  ASSERT_GE(trace.size(), 3u) << body.dump(2);
  EXPECT_NE(trace[0].get<std::string>().find("importlib/__init__.py"), std::string::npos) << trace.dump(2);
  EXPECT_EQ(trace[trace.size() - 2],
            "  File \"" + kConformance + "/init_error.py\", line 5, in <module>\n    helper()\n");
  EXPECT_EQ(trace.back(), "  File \"" + kConformance +
                              "/init_error.py\", line 2, in helper\n    raise RuntimeError(\"INIT failed on purpose\")\n");
  auto frames = frame_texts(j);
  ASSERT_EQ(frames.size(), 2u) << j.dump(2);
  EXPECT_EQ(frames[0].rfind("[WARNING]\t<ts>\t\tLAMBDA_WARNING: Unhandled exception. ", 0), 0u) << frames[0];
  EXPECT_EQ(frames[1].rfind("[ERROR] RuntimeError: INIT failed on purpose\nTraceback (most recent call last):\n", 0), 0u)
      << frames[1];
}

TEST_F(AwsConformance, TextLogsAreOneEventPerRecordOrPrint) {
  auto j = run_cases({case_event("log")});
  ASSERT_EQ(requests(j, "/response").size(), 1u) << j.dump(2);
  std::string file = kConformance + "/aws-compat.py";
  std::vector<std::string> expected = {
      "first line\nsecond line\n",
      "after\n",
      "[WARNING]\t<ts>\treq-0\twarned\nover two lines\n",
      // INFO is below the default WARNING.
      "[ERROR]\t<ts>\treq-0\tcaught\nTraceback (most recent call last):\n  File \"" + file +
          "\", line 49, in _log_lines\n    raise KeyError(\"k\")\nKeyError: 'k'",
      "from context.log\n",
  };
  EXPECT_EQ(frame_texts(j), expected);
  EXPECT_EQ(j["stdout"], "") << "nothing goes around the frames";
}

TEST_F(AwsConformance, JsonLogsAtTheLevelAsked) {
  auto j = run_cases({case_event("log"), case_event("raise")},
                     {{"AWS_LAMBDA_LOG_FORMAT", "JSON"}, {"AWS_LAMBDA_LOG_LEVEL", "info"}});
  auto frames = j["frames"];
  std::vector<json> records;
  for (const auto& f : frames) {
    auto text = f["text"].get<std::string>();
    if (text.starts_with("{")) records.push_back(json::parse(text));
  }
  ASSERT_EQ(records.size(), 4u) << j.dump(2);  // warning, info, exception, the uncaught error
  EXPECT_EQ(records[0]["level"], "WARNING");
  EXPECT_EQ(records[0]["message"], "warned\nover two lines");
  EXPECT_EQ(records[0]["logger"], "compat");
  EXPECT_EQ(records[0]["requestId"], "req-0");
  EXPECT_TRUE(std::regex_match(records[0]["timestamp"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")));
  EXPECT_FALSE(records[0].contains("stackTrace"));
  EXPECT_EQ(records[1]["level"], "INFO");
  EXPECT_EQ(records[1]["detail"], "x") << "logging's extra= fields";
  EXPECT_EQ(records[2]["level"], "ERROR");
  EXPECT_EQ(records[2]["message"], "caught");
  EXPECT_EQ(records[2]["errorType"], "KeyError");
  EXPECT_EQ(records[2]["errorMessage"], "'k'");
  ASSERT_EQ(records[2]["stackTrace"].size(), 1u);
  EXPECT_NE(records[2]["location"].get<std::string>().find("aws-compat.py:_log_lines:"), std::string::npos);
  EXPECT_EQ(records[3]["log_level"], "ERROR");
  EXPECT_EQ(records[3]["errorType"], "ValueError");
  EXPECT_EQ(records[3]["requestId"], "req-1");
  EXPECT_EQ(frames[2]["type"], 0xA55A0012) << "a JSON record at WARNING (after the two prints)";
}

TEST_F(AwsConformance, StartsAsAwsLauncherDoesThroughTheExecWrapper) {
  auto j = run_cases({case_event("environment")},
                     {{"AWS_LAMBDA_EXEC_WRAPPER", kConformance + "/wrapper.sh"}, {"LAMBDA_RUNTIME_DIR", "/var/runtime"}});
  auto answers = requests(j, "/response");
  ASSERT_EQ(answers.size(), 1u) << j.dump(2);
  auto body = json::parse(body_of(answers[0]));
  EXPECT_EQ(body["env"]["AWS_EXECUTION_ENV"], "AWS_Lambda_python3.11");
  EXPECT_EQ(body["env"]["WRAPPED_BY"], "wrapper.sh with 2 arguments") << "the interpreter and the runtime's script";
  EXPECT_EQ(body["env"]["PYTHONPATH"], "/var/runtime");
  auto path = body["sys_path"];
  ASSERT_GE(path.size(), 4u);
  EXPECT_EQ(path[0], kConformance);
  EXPECT_EQ(path[1], "/opt/python/lib/python3.11/site-packages");
  EXPECT_EQ(path[2], "/opt/python");
  EXPECT_EQ(body["vendored"], kConformance + "/vendor/vendored_mod.py") << "vendor.pth was read";
  EXPECT_TRUE(body["boto3"].get<std::string>().ends_with("/boto3/__init__.py"));

  // A wrapper that is not there ends INIT as AWS's launcher does.
  j = run_cases({case_event("environment")}, {{"AWS_LAMBDA_EXEC_WRAPPER", "/no/such/wrapper"}});
  EXPECT_EQ(j["exit_code"], 127);
  EXPECT_EQ(j["stdout"], "/no/such/wrapper: does not exist\n");
}

TEST_F(AwsConformance, AFunctionsVendoredBoto3WinsOverTheRuntimes) {
  Scenario r{kCases + "/vendored_boto3", "app.handler"};
  r.scenario["events"] = json::array({{{"body", "{}"}}});
  auto j = run(r);
  auto answers = requests(j, "/response");
  ASSERT_EQ(answers.size(), 1u) << j.dump(2);
  EXPECT_EQ(json::parse(body_of(answers[0])), json({{"boto3", "vendored by the function"}}));
}

TEST_F(AwsConformance, HandlerNamesAwsAccepts) {
  for (std::string handler : {"1pkg/app.handler", "1pkg.app.handler"}) {
    auto j = run_cases({case_event("any")}, json::object(), handler);
    auto answers = requests(j, "/response");
    ASSERT_EQ(answers.size(), 1u) << handler << j.dump(2);
    EXPECT_EQ(json::parse(body_of(answers[0])), json({{"module", "1pkg.app"}}));
  }
}

TEST_F(AwsConformance, ContextHasTheTenantTheTraceAndReadableReprs) {
  json ev = case_event("context");
  ev["headers"] = {{"Lambda-Runtime-Aws-Tenant-Id", "tenant-7"},
                   {"Lambda-Runtime-Trace-Id", "Root=1-67a1b2c3-0123456789abcdef01234567;Parent=89abcdef01234567;Sampled=0"},
                   {"Lambda-Runtime-Client-Context", R"({"custom": {"k": "v"}, "client": {"app_title": "t"}, "env": {}})"}};
  auto j = run_cases({ev, case_event("context")});
  auto answers = requests(j, "/response");
  ASSERT_EQ(answers.size(), 2u) << j.dump(2);
  auto first = json::parse(body_of(answers[0]));
  EXPECT_EQ(first["tenant_id"], "tenant-7");
  EXPECT_EQ(first["trace"], "Root=1-67a1b2c3-0123456789abcdef01234567;Parent=89abcdef01234567;Sampled=0");
  EXPECT_EQ(first["client_context"],
            "ClientContext([custom={'k': 'v'},env={},client=Client([installation_id=None,app_title=t,"
            "app_version_name=None,app_version_code=None,app_package_name=None])])");
  EXPECT_EQ(first["identity"], "CognitoIdentity([cognito_identity_id=None,cognito_identity_pool_id=None])");
  auto second = json::parse(body_of(answers[1]));
  EXPECT_EQ(second["tenant_id"], nullptr);
  EXPECT_EQ(second["client_context"], "None");
}

TEST_F(AwsConformance, HooksRegisteredByHooksRunAsInSnapshotRestorePy) {
  Scenario r{kConformance, "hooks.handler"};
  r.scenario["init_type"] = "snap-start";
  r.scenario["events"] = json::array({{{"body", "{}"}}});
  auto j = run(r);
  auto answers = requests(j, "/response");
  ASSERT_EQ(answers.size(), 1u) << j.dump(2);
  EXPECT_EQ(json::parse(body_of(answers[0])),
            json({{"ran", {"last-registered", "first", "registered-by-first", "restored", "registered-by-restored"}},
                  {"version", "1.0.0"}}));
}

TEST_F(AwsConformance, AFailedRestoreNextIsABeforeSnapshotError) {
  Scenario r{kConformance, "hooks.handler"};
  r.scenario["init_type"] = "snap-start";
  r.scenario["restore_status"] = 500;
  r.scenario["events"] = json::array({{{"body", "{}"}}});
  auto j = run(r);
  EXPECT_EQ(j["exit_code"], 64);
  auto init = requests(j, "/init/error");
  ASSERT_EQ(init.size(), 1u) << j.dump(2);
  EXPECT_EQ(init[0]["headers"]["Lambda-Runtime-Function-Error-Type"], "Runtime.BeforeSnapshotError");
}

TEST_F(AwsConformance, RandomReseedingAfterRestoreCanBeTurnedOff) {
  auto expected = seeded_random_stream();
  Scenario r{kCases, "seeded_random.handler"};
  r.scenario["init_type"] = "snap-start";
  r.scenario["env"] = {{"THAW_RESEED_RANDOM", "0"}};
  r.scenario["events"] = json::array({{{"body", "{}"}}});
  auto j = run(r);
  auto answers = requests(j, "/response");
  ASSERT_EQ(answers.size(), 1u) << j.dump(2);
  EXPECT_EQ(json::parse(body_of(answers[0])), expected) << "the stream random.seed(42) set at INIT goes on";
}

}  // namespace
