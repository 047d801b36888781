// The Lambda API's paths and methods, as botocore's model declares them, to operations.
#include <gtest/gtest.h>

#include "invoke-api/api_error.h"
#include "invoke-api/lambda_routes.h"

namespace thaw::api {
namespace {

// The HTTP status a route() refusal carries; 0 when it routes.
int status(const char* method, const char* target) {
  try {
    route(method, target);
    return 0;
  } catch (const ApiError& e) {
    return e.status();
  }
}

TEST(LambdaRoutes, EveryOperationOfTheModelIsFoundByMethodAndPath) {
  struct Case {
    const char* method;
    const char* target;
    Operation op;
  } cases[] = {
      {"POST", "/2015-03-31/functions/f/invocations", Operation::kInvoke},
      {"POST", "/2014-11-13/functions/f/invoke-async/", Operation::kInvokeAsync},
      {"POST", "/2015-03-31/functions", Operation::kCreateFunction},
      {"GET", "/2015-03-31/functions/", Operation::kListFunctions},
      {"GET", "/2015-03-31/functions/f", Operation::kGetFunction},
      {"DELETE", "/2015-03-31/functions/f", Operation::kDeleteFunction},
      {"GET", "/2015-03-31/functions/f/configuration", Operation::kGetFunctionConfiguration},
      {"PUT", "/2015-03-31/functions/f/configuration", Operation::kUpdateFunctionConfiguration},
      {"PUT", "/2015-03-31/functions/f/code", Operation::kUpdateFunctionCode},
      {"POST", "/2015-03-31/functions/f/versions", Operation::kPublishVersion},
      {"GET", "/2015-03-31/functions/f/versions", Operation::kListVersionsByFunction},
      {"POST", "/2015-03-31/functions/f/aliases", Operation::kCreateAlias},
      {"GET", "/2015-03-31/functions/f/aliases", Operation::kListAliases},
      {"GET", "/2015-03-31/functions/f/aliases/live", Operation::kGetAlias},
      {"PUT", "/2015-03-31/functions/f/aliases/live", Operation::kUpdateAlias},
      {"DELETE", "/2015-03-31/functions/f/aliases/live", Operation::kDeleteAlias},
  };
  for (const auto& c : cases) {
    auto r = route(c.method, c.target);
    EXPECT_EQ(r.op, c.op) << c.method << " " << c.target << " gave " << name_of(r.op);
    if (r.op != Operation::kCreateFunction && r.op != Operation::kListFunctions) {
      EXPECT_EQ(r.function, "f");
    }
  }
  EXPECT_EQ(route("GET", "/2015-03-31/functions/f/aliases/live").alias, "live");
}

TEST(LambdaRoutes, TheLayerOperationsLiveUnder2018_10_31) {
  struct Case {
    const char* method;
    const char* target;
    Operation op;
  } cases[] = {
      {"POST", "/2018-10-31/layers/deps/versions", Operation::kPublishLayerVersion},
      {"GET", "/2018-10-31/layers/deps/versions", Operation::kListLayerVersions},
      {"GET", "/2018-10-31/layers/deps/versions/3", Operation::kGetLayerVersion},
      {"DELETE", "/2018-10-31/layers/deps/versions/3", Operation::kDeleteLayerVersion},
      {"GET", "/2018-10-31/layers", Operation::kListLayers},
      {"GET", "/2018-10-31/layers?CompatibleRuntime=python3.11", Operation::kListLayers},
  };
  for (const auto& c : cases) {
    auto r = route(c.method, c.target);
    EXPECT_EQ(r.op, c.op) << c.method << " " << c.target << " gave " << name_of(r.op);
  }
  auto get = route("GET", "/2018-10-31/layers/arn%3Aaws%3Alambda%3Aus-east-1%3A0%3Alayer%3Adeps/versions/12");
  EXPECT_EQ(get.layer, "arn:aws:lambda:us-east-1:0:layer:deps");
  EXPECT_EQ(get.layer_version, "12");
  auto by_arn = route("GET", "/2018-10-31/layers?find=LayerVersion&Arn=arn%3Aaws%3Alambda%3Aus-east-1%3A0%3Alayer%3Adeps%3A2");
  EXPECT_EQ(by_arn.op, Operation::kGetLayerVersionByArn);
  EXPECT_EQ(by_arn.query.at("Arn"), "arn:aws:lambda:us-east-1:0:layer:deps:2");
  EXPECT_EQ(status("PUT", "/2018-10-31/layers/deps/versions"), 404);
  EXPECT_EQ(status("GET", "/2018-10-31/layers/deps"), 404);
  EXPECT_EQ(status("POST", "/2018-10-31/layers/deps/versions/1"), 404);
  EXPECT_EQ(status("GET", "/2015-03-31/layers/deps/versions"), 404);
}

TEST(LambdaRoutes, LabelsAndTheQueryAreDecoded) {
  auto r = route("POST", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A0%3Afunction%3Af/invocations"
                         "?Qualifier=%24LATEST&Empty");
  EXPECT_EQ(r.function, "arn:aws:lambda:us-east-1:0:function:f");
  EXPECT_EQ(r.query.at("Qualifier"), "$LATEST");
  EXPECT_EQ(r.query.at("Empty"), "");
}

TEST(LambdaRoutes, WhatTheApiDoesNotHaveIsA404AndABadEscapeA400) {
  EXPECT_EQ(status("GET", "/"), 404);
  EXPECT_EQ(status("GET", "/2015-03-31/functions/f/invocations"), 404);  // Invoke is a POST
  EXPECT_EQ(status("PATCH", "/2015-03-31/functions/f"), 404);
  EXPECT_EQ(status("GET", "/2015-03-31/functions/f/nothing"), 404);
  EXPECT_EQ(status("GET", "/2015-03-31/functions//configuration"), 404);
  EXPECT_EQ(status("GET", "/2020-01-01/functions/f"), 404);
  EXPECT_EQ(status("GET", "/2015-03-31/functions/f%zz"), 400);
  EXPECT_EQ(status("GET", "/2015-03-31/functions/f%4"), 400);
}

}  // namespace
}  // namespace thaw::api
