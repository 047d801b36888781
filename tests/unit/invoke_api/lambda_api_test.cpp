// The Lambda API over an Engine that boots nothing (a stand-in agent; images are really built):
// status codes, the error shapes botocore parses, paging, preconditions, and what an Invoke
// refuses before it would need a sandbox.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "engine/code_store.h"
#include "invoke-api/api_error.h"
#include "invoke-api/lambda_api.h"

namespace thaw::api {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

class LambdaApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("thaw-lambda-api-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::string agent = (dir_ / "agent").string();
    std::ofstream(agent) << "#!/bin/sh\n# stands in for the guest agent: nothing boots here\n";
    fs::permissions(agent, fs::perms(0755));
    engine::CodeStore store(dir_ / "zips");
    auto code = store.put({.directory = std::string(THAW_SOURCE_DIR) + "/examples/functions/provided-shell"});
    std::ifstream zip(store.zip_path(code.sha256_hex), std::ios::binary);
    zip_base64_ = base64_encode(std::string(std::istreambuf_iterator<char>(zip), {}));
    EngineOptions o;
    o.data_dir = (dir_ / "data").string();
    o.guest_agent = agent;
    o.build_workers = 1;
    o.async.workers = 0;  // accepted events stay queued, where the tests look for them
    engine_ = std::make_unique<Engine>(o);
    api_ = std::make_unique<LambdaApi>(*engine_, ApiOptions{});
  }
  void TearDown() override {
    api_.reset();
    engine_.reset();
    fs::remove_all(dir_);
  }

  HttpResponse call(std::string method, std::string target, std::string body = {}, HttpHeaders headers = {}) {
    return api_->handle({std::move(method), std::move(target), std::move(headers), std::move(body)});
  }
  std::string create_body(const std::string& name) {
    return json{{"FunctionName", name},
                {"Runtime", "provided.al2023"},
                {"Role", "arn:aws:iam::123456789012:role/r"},
                {"Handler", "function.handler"},
                {"Code", {{"ZipFile", zip_base64_}}}}
        .dump();
  }
  static std::string header(const HttpResponse& r, std::string_view name) {
    return std::string(r.header(name).value_or(""));
  }
  // The exception botocore would raise, and the message as it reads it.
  static std::pair<std::string, std::string> error(const HttpResponse& r) {
    auto body = json::parse(r.body);
    return {header(r, "x-amzn-ErrorType"), body.value("message", body.value("Message", ""))};
  }

  fs::path dir_;
  std::string zip_base64_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<LambdaApi> api_;
};

TEST_F(LambdaApiTest, CreateGetAndListFunctionsWithLambdasStatusCodesAndShapes) {
  auto created = call("POST", "/2015-03-31/functions", create_body("shell"));
  ASSERT_EQ(created.status, 201) << created.body;
  auto conf = json::parse(created.body);
  EXPECT_EQ(conf["FunctionName"], "shell");
  EXPECT_EQ(conf["Runtime"], "provided.al2023");
  EXPECT_EQ(conf["Role"], "arn:aws:iam::123456789012:role/r");
  EXPECT_EQ(conf["FunctionArn"], "arn:aws:lambda:us-east-1:000000000000:function:shell");
  EXPECT_FALSE(header(created, "x-amzn-RequestId").empty());
  engine_->wait_until_ready("shell");

  auto got = call("GET", "/2015-03-31/functions/shell");
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(json::parse(got.body)["Configuration"]["State"], "Active");
  auto by_arn = call("GET", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Ashell/configuration");
  EXPECT_EQ(by_arn.status, 200) << by_arn.body;

  auto dup = call("POST", "/2015-03-31/functions", create_body("shell"));
  EXPECT_EQ(dup.status, 409);
  EXPECT_EQ(error(dup).first, "ResourceConflictException");
  auto missing = call("GET", "/2015-03-31/functions/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(error(missing).first, "ResourceNotFoundException");
  EXPECT_EQ(json::parse(missing.body)["Type"], "User");
  EXPECT_TRUE(json::parse(missing.body).contains("Message"));  // as the model spells it for this one

  for (const char* n : {"b-fn", "c-fn"}) ASSERT_EQ(call("POST", "/2015-03-31/functions", create_body(n)).status, 201);
  auto page = json::parse(call("GET", "/2015-03-31/functions/?MaxItems=2").body);
  ASSERT_EQ(page["Functions"].size(), 2u);
  EXPECT_EQ(page["Functions"][0]["FunctionName"], "b-fn");
  auto rest = json::parse(call("GET", "/2015-03-31/functions/?Marker=" + page["NextMarker"].get<std::string>()).body);
  ASSERT_EQ(rest["Functions"].size(), 1u);
  EXPECT_EQ(rest["Functions"][0]["FunctionName"], "shell");
  EXPECT_FALSE(rest.contains("NextMarker"));
  EXPECT_EQ(call("GET", "/2015-03-31/functions/?MaxItems=0").status, 400);
  EXPECT_EQ(call("GET", "/2015-03-31/functions/?Marker=x").status, 400);
}

TEST_F(LambdaApiTest, VersionsAliasesAndPreconditions) {
  ASSERT_EQ(call("POST", "/2015-03-31/functions", create_body("shell")).status, 201);
  engine_->wait_until_ready("shell");
  auto v1 = call("POST", "/2015-03-31/functions/shell/versions", "{}");
  ASSERT_EQ(v1.status, 201) << v1.body;
  EXPECT_EQ(json::parse(v1.body)["Version"], "1");

  auto stale = call("PUT", "/2015-03-31/functions/shell/configuration", R"({"Timeout": 9, "RevisionId": "stale"})");
  EXPECT_EQ(stale.status, 412);
  EXPECT_EQ(error(stale).first, "PreconditionFailedException");
  auto updated = call("PUT", "/2015-03-31/functions/shell/configuration", R"({"Timeout": 9})");
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(json::parse(updated.body)["Timeout"], 9);
  engine_->wait_until_ready("shell");
  ASSERT_EQ(call("POST", "/2015-03-31/functions/shell/versions", "").status, 201);

  auto alias = call("POST", "/2015-03-31/functions/shell/aliases",
                    R"({"Name": "live", "FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.1}}})");
  ASSERT_EQ(alias.status, 201) << alias.body;
  EXPECT_EQ(json::parse(alias.body)["RoutingConfig"]["AdditionalVersionWeights"]["2"], 0.1);
  auto described = call("PUT", "/2015-03-31/functions/shell/aliases/live", R"({"Description": "d"})");
  ASSERT_EQ(described.status, 200) << described.body;
  auto d = json::parse(described.body);
  EXPECT_EQ(d["FunctionVersion"], "1");  // what was not sent stays
  EXPECT_EQ(d["RoutingConfig"]["AdditionalVersionWeights"]["2"], 0.1);
  auto in_use = call("DELETE", "/2015-03-31/functions/shell?Qualifier=1");
  EXPECT_EQ(in_use.status, 409);
  EXPECT_EQ(json::parse(call("GET", "/2015-03-31/functions/shell/aliases?FunctionVersion=2").body)["Aliases"].size(), 0u);
  EXPECT_EQ(call("DELETE", "/2015-03-31/functions/shell/aliases/live").status, 204);
  EXPECT_EQ(call("DELETE", "/2015-03-31/functions/shell?Qualifier=1").status, 204);
  auto versions = json::parse(call("GET", "/2015-03-31/functions/shell/versions").body)["Versions"];
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(versions[1]["Version"], "2");
  EXPECT_EQ(call("DELETE", "/2015-03-31/functions/shell").status, 204);
  EXPECT_EQ(call("GET", "/2015-03-31/functions/shell").status, 404);
}

TEST_F(LambdaApiTest, InvokeRefusesWhatLambdaRefusesBeforeAnySandbox) {
  ASSERT_EQ(call("POST", "/2015-03-31/functions", create_body("shell")).status, 201);
  engine_->wait_until_ready("shell");
  auto invoke = [&](std::string body, HttpHeaders h = {}, std::string fn = "shell") {
    return call("POST", "/2015-03-31/functions/" + fn + "/invocations", std::move(body), std::move(h));
  };
  EXPECT_EQ(invoke("{}", {{"X-Amz-Invocation-Type", "DryRun"}}).status, 204);
  EXPECT_EQ(error(invoke("{}", {{"X-Amz-Invocation-Type", "DryRun"}}, "nope")).first, "ResourceNotFoundException");
  EXPECT_EQ(error(invoke("{}", {{"X-Amz-Invocation-Type", "Event"}}, "nope")).first, "ResourceNotFoundException");
  EXPECT_EQ(error(invoke("{}", {}, "nope")).first, "ResourceNotFoundException");
  EXPECT_EQ(error(invoke("not json")).first, "InvalidRequestContentException");
  auto big = invoke(std::string(7 << 20, ' '));
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(error(big).first, "RequestTooLargeException");
  EXPECT_EQ(invoke(std::string((1 << 20) + 1, ' '), {{"X-Amz-Invocation-Type", "Event"}}).status, 413);
  EXPECT_EQ(error(invoke("{}", {{"X-Amz-Invocation-Type", "Later"}})).first, "InvalidParameterValueException");
  EXPECT_EQ(error(invoke("{}", {{"X-Amz-Log-Type", "All"}})).first, "InvalidParameterValueException");
  EXPECT_EQ(error(invoke("{}", {{"X-Amz-Client-Context", "not base64!"}})).first, "InvalidRequestContentException");
  EXPECT_EQ(error(invoke("{}", {{"X-Amz-Client-Context", std::string(3584, 'A')}})).first,
            "InvalidParameterValueException");
  EXPECT_EQ(error(invoke("{}", {{"X-Amz-Tenant-Id", "has space"}})).first, "InvalidParameterValueException");
  EXPECT_EQ(error(invoke("{}", {{"X-Amz-Tenant-Id", std::string(257, 't')}})).first, "InvalidParameterValueException");
}

TEST_F(LambdaApiTest, ReservedConcurrencyAndTheAccountsSettingsAndAThrottleAsLambdaAnswersIt) {
  ASSERT_EQ(call("POST", "/2015-03-31/functions", create_body("shell")).status, 201);
  engine_->wait_until_ready("shell");
  auto account = [&] { return json::parse(call("GET", "/2016-08-19/account-settings/").body); };
  auto before = account();
  unsigned limit = before["AccountLimit"]["ConcurrentExecutions"].get<unsigned>();
  ASSERT_GT(limit, 5u);
  EXPECT_EQ(before["AccountLimit"]["UnreservedConcurrentExecutions"], limit);
  EXPECT_EQ(before["AccountUsage"]["FunctionCount"], 1);
  EXPECT_GT(before["AccountUsage"]["TotalCodeSize"].get<uint64_t>(), 0u);

  auto put = call("PUT", "/2017-10-31/functions/shell/concurrency", R"({"ReservedConcurrentExecutions": 5})");
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(json::parse(put.body)["ReservedConcurrentExecutions"], 5);
  EXPECT_EQ(json::parse(call("GET", "/2019-09-30/functions/shell/concurrency").body)["ReservedConcurrentExecutions"], 5);
  EXPECT_EQ(json::parse(call("GET", "/2015-03-31/functions/shell").body)["Concurrency"]["ReservedConcurrentExecutions"], 5);
  EXPECT_EQ(account()["AccountLimit"]["UnreservedConcurrentExecutions"], limit - 5);

  auto too_many = call("PUT", "/2017-10-31/functions/shell/concurrency",
                       json{{"ReservedConcurrentExecutions", limit}}.dump());
  EXPECT_EQ(too_many.status, 400);
  EXPECT_NE(error(too_many).second.find("below its minimum value"), std::string::npos) << too_many.body;
  EXPECT_EQ(error(call("PUT", "/2017-10-31/functions/shell/concurrency", R"({"ReservedConcurrentExecutions": -1})")).first,
            "InvalidParameterValueException");
  EXPECT_EQ(error(call("PUT", "/2017-10-31/functions/shell/concurrency", "{}")).first, "InvalidParameterValueException");
  EXPECT_EQ(error(call("PUT", "/2017-10-31/functions/nope/concurrency", R"({"ReservedConcurrentExecutions": 1})")).first,
            "ResourceNotFoundException");

  // Reserved 0: every invocation is throttled before any sandbox, with the reserved Reason.
  ASSERT_EQ(call("PUT", "/2017-10-31/functions/shell/concurrency", R"({"ReservedConcurrentExecutions": 0})").status, 200);
  auto throttled = call("POST", "/2015-03-31/functions/shell/invocations", "{}");
  EXPECT_EQ(throttled.status, 429);
  EXPECT_EQ(error(throttled).first, "TooManyRequestsException");
  EXPECT_EQ(json::parse(throttled.body)["Reason"], "ReservedFunctionConcurrentInvocationLimitExceeded");
  EXPECT_FALSE(header(throttled, "Retry-After").empty());
  EXPECT_EQ(engine_->stats().throttles, 1u);
  EXPECT_EQ(engine_->stats().sandboxes, 0u);
  // The throttle in the metrics, unsigned even where every API call must be signed.
  api_ = std::make_unique<LambdaApi>(*engine_, ApiOptions{.authenticate = [](const HttpRequest&) {
                                       throw ApiError("UnrecognizedClientException", 403, "unsigned");
                                     }});
  auto metrics = call("GET", "/metrics");
  ASSERT_EQ(metrics.status, 200) << metrics.body;
  EXPECT_NE(header(metrics, "Content-Type").find("text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(metrics.body.find("\nlambda_throttles_total{function_name=\"shell\",executed_version=\"$LATEST\"} 1\n"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("\nlambda_reserved_concurrent_executions{function_name=\"shell\"} 0\n"), std::string::npos)
      << metrics.body;
  EXPECT_EQ(call("GET", "/2016-08-19/account-settings/").status, 403);
  api_ = std::make_unique<LambdaApi>(*engine_, ApiOptions{});

  EXPECT_EQ(call("DELETE", "/2017-10-31/functions/shell/concurrency").status, 204);
  EXPECT_EQ(call("GET", "/2019-09-30/functions/shell/concurrency").body, "{}");
  EXPECT_FALSE(json::parse(call("GET", "/2015-03-31/functions/shell").body).contains("Concurrency"));
  EXPECT_EQ(account()["AccountLimit"]["UnreservedConcurrentExecutions"], limit);
}

TEST_F(LambdaApiTest, ProvisionedConcurrencyConfigsAsLambdaAnswersThem) {
  ASSERT_EQ(call("POST", "/2015-03-31/functions", create_body("shell")).status, 201);
  engine_->wait_until_ready("shell");
  ASSERT_EQ(call("POST", "/2015-03-31/functions/shell/versions", "{}").status, 201);
  engine_->wait_until_ready("shell", "1");
  const std::string path = "/2019-09-30/functions/shell/provisioned-concurrency";
  EXPECT_EQ(error(call("PUT", path + "?Qualifier=%24LATEST", R"({"ProvisionedConcurrentExecutions": 1})")).first,
            "InvalidParameterValueException");
  EXPECT_EQ(error(call("PUT", path + "?Qualifier=7", R"({"ProvisionedConcurrentExecutions": 1})")).first,
            "ResourceNotFoundException");
  auto missing = call("GET", path + "?Qualifier=1");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(error(missing).first, "ProvisionedConcurrencyConfigNotFoundException");

  auto put = call("PUT", path + "?Qualifier=1", R"({"ProvisionedConcurrentExecutions": 2})");
  ASSERT_EQ(put.status, 202) << put.body;
  EXPECT_EQ(json::parse(put.body)["RequestedProvisionedConcurrentExecutions"], 2);
  // A reservation under what is provisioned is refused.
  EXPECT_EQ(error(call("PUT", "/2017-10-31/functions/shell/concurrency", R"({"ReservedConcurrentExecutions": 1})")).first,
            "InvalidParameterValueException");
  // Nothing boots here (a stand-in agent, or no KVM): the configuration fails and says why.
  json got;
  for (int i = 0; i < 6000; ++i) {
    got = json::parse(call("GET", path + "?Qualifier=1").body);
    if (got["Status"] != "IN_PROGRESS") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(got["Status"], "FAILED") << got;
  EXPECT_FALSE(got.value("StatusReason", "").empty()) << got;
  // Putting it again, even unchanged, retries (the provisioner waits for the engine's lock the
  // put holds, so the answer is always IN_PROGRESS).
  auto again = json::parse(call("PUT", path + "?Qualifier=1", R"({"ProvisionedConcurrentExecutions": 2})").body);
  EXPECT_EQ(again["Status"], "IN_PROGRESS") << again;
  EXPECT_FALSE(again.contains("StatusReason")) << again;
  auto list = json::parse(call("GET", path + "?List=ALL").body);
  ASSERT_EQ(list["ProvisionedConcurrencyConfigs"].size(), 1u) << list;
  EXPECT_TRUE(list["ProvisionedConcurrencyConfigs"][0]["FunctionArn"].get<std::string>().ends_with(":function:shell:1"))
      << list;
  EXPECT_EQ(call("DELETE", path + "?Qualifier=1").status, 204);
  EXPECT_EQ(call("GET", path + "?Qualifier=1").status, 404);
  EXPECT_EQ(json::parse(call("GET", path + "?List=ALL").body)["ProvisionedConcurrencyConfigs"].size(), 0u);
}

TEST_F(LambdaApiTest, AnEventIsOnDiskBeforeIts202AndEventInvokeConfigsAsLambdaAnswersThem) {
  ASSERT_EQ(call("POST", "/2015-03-31/functions", create_body("shell")).status, 201);
  engine_->wait_until_ready("shell");
  auto accepted = call("POST", "/2015-03-31/functions/shell/invocations", R"({"n": 7})", {{"X-Amz-Invocation-Type", "Event"}});
  ASSERT_EQ(accepted.status, 202) << accepted.body;
  const std::string id = header(accepted, "x-amzn-RequestId");
  ASSERT_FALSE(id.empty());
  std::ifstream queued(dir_ / "data" / "events" / (id + ".json"));
  ASSERT_TRUE(queued) << "no DATA/events/" << id << ".json";
  auto event = json::parse(std::string(std::istreambuf_iterator<char>(queued), {}));
  EXPECT_EQ(event["function"], "shell") << event;
  EXPECT_EQ(event["payload"], R"({"n": 7})") << event;
  // The legacy InvokeAsync takes the same path.
  auto legacy = call("POST", "/2014-11-13/functions/shell/invoke-async/", "{}");
  EXPECT_EQ(legacy.status, 202) << legacy.body;
  EXPECT_EQ(engine_->async_stats().queued, 2u);

  const std::string path = "/2019-09-25/functions/shell/event-invoke-config";
  auto missing = call("GET", path);
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(error(missing).first, "ResourceNotFoundException");
  EXPECT_EQ(error(call("POST", path, R"({"MaximumRetryAttempts": 1})")).first, "ResourceNotFoundException");
  EXPECT_EQ(error(call("PUT", path, R"({"MaximumRetryAttempts": 3})")).first, "InvalidParameterValueException");
  EXPECT_EQ(error(call("PUT", path, R"({"MaximumEventAgeInSeconds": 59})")).first, "InvalidParameterValueException");
  EXPECT_EQ(error(call("PUT", path, R"({"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sns:us-east-1:1:t"}}})"))
                .first,
            "InvalidParameterValueException");
  auto put = call("PUT", path,
                  R"({"MaximumRetryAttempts": 0, "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:123456789012:failed"}}})");
  ASSERT_EQ(put.status, 200) << put.body;
  auto c = json::parse(put.body);
  EXPECT_EQ(c["MaximumRetryAttempts"], 0) << c;
  EXPECT_EQ(c["MaximumEventAgeInSeconds"], 21600) << c;
  EXPECT_TRUE(c["FunctionArn"].get<std::string>().ends_with(":function:shell:$LATEST")) << c;
  EXPECT_EQ(c["DestinationConfig"]["OnFailure"]["Destination"], "arn:aws:sqs:us-east-1:123456789012:failed") << c;
  // Update changes only what it names.
  auto updated = json::parse(call("POST", path, R"({"MaximumEventAgeInSeconds": 120})").body);
  EXPECT_EQ(updated["MaximumRetryAttempts"], 0) << updated;
  EXPECT_EQ(updated["MaximumEventAgeInSeconds"], 120) << updated;
  EXPECT_EQ(json::parse(call("GET", path).body), updated);
  auto list = json::parse(call("GET", path + "/list").body);
  ASSERT_EQ(list["FunctionEventInvokeConfigs"].size(), 1u) << list;
  // Kept with the function: an engine opened again on the same directory has it (and the events).
  api_.reset();
  engine_.reset();
  EngineOptions o;
  o.data_dir = (dir_ / "data").string();
  o.guest_agent = (dir_ / "agent").string();
  o.async.workers = 0;
  engine_ = std::make_unique<Engine>(o);
  api_ = std::make_unique<LambdaApi>(*engine_, ApiOptions{});
  EXPECT_EQ(json::parse(call("GET", path).body)["MaximumEventAgeInSeconds"], 120);
  EXPECT_EQ(engine_->async_stats().queued, 2u);
  EXPECT_EQ(call("DELETE", path).status, 204);
  EXPECT_EQ(call("GET", path).status, 404);

  // DeadLetterConfig: a queue, kept in the configuration; anything else is refused.
  const std::string config = "/2015-03-31/functions/shell/configuration";
  EXPECT_EQ(error(call("PUT", config, R"({"DeadLetterConfig": {"TargetArn": "arn:aws:sns:us-east-1:1:topic"}})")).first,
            "InvalidParameterValueException");
  auto dlq = call("PUT", config, R"({"DeadLetterConfig": {"TargetArn": "arn:aws:sqs:us-east-1:123456789012:dead"}})");
  ASSERT_EQ(dlq.status, 200) << dlq.body;
  EXPECT_EQ(json::parse(dlq.body)["DeadLetterConfig"]["TargetArn"], "arn:aws:sqs:us-east-1:123456789012:dead");
  engine_->wait_until_ready("shell");
  EXPECT_EQ(json::parse(call("GET", config).body)["DeadLetterConfig"]["TargetArn"],
            "arn:aws:sqs:us-east-1:123456789012:dead");
}

TEST_F(LambdaApiTest, UnknownPathsAndRefusedCredentialsGetClearErrors) {
  auto unknown = call("GET", "/nothing/here");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(error(unknown).first, "UnknownOperationException");
  EXPECT_NE(error(unknown).second.find("/2015-03-31/functions"), std::string::npos);
  EXPECT_EQ(call("POST", "/2015-03-31/functions", "{").status, 400);

  LambdaApi guarded(*engine_, {.authenticate = [](const HttpRequest&) {
                                 throw ApiError("UnrecognizedClientException", 403, "no");
                               }});
  auto refused = guarded.handle({"GET", "/2015-03-31/functions/", {}, {}});
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(error(refused).first, "UnrecognizedClientException");
}

}  // namespace
}  // namespace thaw::api
