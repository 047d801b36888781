// Control-plane bodies as botocore sends them, decoded; what is wrong is named.
#include <gtest/gtest.h>

#include "base/base64.h"
#include "invoke-api/api_error.h"
#include "invoke-api/lambda_requests.h"

namespace thaw::api {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
    return "no error";
  } catch (const ApiError& e) {
    return e.exception() + ": " + e.what();
  }
}

TEST(LambdaRequests, CreateFunctionTakesWhatBotocoreSends) {
  auto in = parse_create_function(R"({"FunctionName": "echo", "Runtime": "python3.11",
      "Role": "arn:aws:iam::123456789012:role/service-role/lambda", "Handler": "app.handler", "Timeout": 30,
      "MemorySize": 512, "Publish": true, "Environment": {"Variables": {"A": "1"}},
      "SnapStart": {"ApplyOn": "PublishedVersions"}, "Code": {"ZipFile": ")" + base64_encode("PK\x03\x04zip") + R"("},
      "Architectures": ["x86_64"], "PackageType": "Zip", "Tags": {"team": "x"}})");
  EXPECT_EQ(in.name, "echo");
  EXPECT_EQ(in.settings.runtime, "python3.11");
  EXPECT_EQ(in.settings.role, "arn:aws:iam::123456789012:role/service-role/lambda");
  EXPECT_EQ(in.settings.handler, "app.handler");
  EXPECT_EQ(in.settings.timeout_s, 30u);
  EXPECT_EQ(in.settings.memory_mb, 512u);
  EXPECT_EQ(in.settings.environment.at("A"), "1");
  EXPECT_EQ(in.settings.snap_start, SnapStartApplyOn::kPublishedVersions);
  EXPECT_TRUE(in.publish);
  EXPECT_EQ(in.code.zip_bytes, "PK\x03\x04zip");
}

TEST(LambdaRequests, WhatIsMissingMistypedOrUnsupportedIsNamed) {
  const std::string ok_code = R"("Code": {"ZipFile": "UEs="})";
  const std::string base = R"("FunctionName": "f", "Runtime": "provided", "Role": "arn:aws:iam::123456789012:role/r")";
  auto create = [&](const std::string& body) { return error_of([&] { parse_create_function(body); }); };
  EXPECT_EQ(create("not json"), "InvalidRequestContentException: the request body is not a JSON object");
  EXPECT_EQ(create("[1]"), "InvalidRequestContentException: the request body is not a JSON object");
  EXPECT_EQ(create("{" + ok_code + "}"), "InvalidParameterValueException: FunctionName is required");
  EXPECT_EQ(create("{" + base + "}"), "InvalidParameterValueException: Code is required");
  EXPECT_EQ(create("{" + base + R"(, "Code": {"ZipFile": "%%%"}})"), "InvalidParameterValueException: ZipFile is not valid base64");
  EXPECT_EQ(create("{" + base + R"(, "Timeout": "3", )" + ok_code + "}"), "InvalidParameterValueException: Timeout must be a whole number");
  EXPECT_NE(create("{" + base + R"(, "Code": {"S3Bucket": "b", "S3Key": "k"}})").find("S3"), std::string::npos);
  EXPECT_NE(create("{" + base + R"(, "Architectures": ["arm64"], )" + ok_code + "}").find("x86_64"), std::string::npos);
  EXPECT_NE(create("{" + base + R"(, "PackageType": "Image", )" + ok_code + "}").find("Image"), std::string::npos);
  EXPECT_NE(create(R"({"FunctionName": "f", "Runtime": "provided", "Role": "admin", )" + ok_code + "}").find("role"),
            std::string::npos);
  EXPECT_EQ(create("{" + base + ", " + ok_code + "}"), "no error");
}

TEST(LambdaRequests, RoleArnsAsIamSpellsThem) {
  EXPECT_TRUE(is_role_arn("arn:aws:iam::123456789012:role/lambda-role"));
  EXPECT_TRUE(is_role_arn("arn:aws-cn:iam::123456789012:role/path/to/r_1+=,.@-"));
  EXPECT_FALSE(is_role_arn("arn:aws:iam::12345:role/r"));
  EXPECT_FALSE(is_role_arn("arn:aws:iam::123456789012:user/r"));
  EXPECT_FALSE(is_role_arn(""));
}

TEST(LambdaRequests, UpdateAliasKeepsWhatIsNotSentAndAnEmptyRoutingRemovesIt) {
  auto keep = parse_alias(R"({"Description": "d"})", false);
  EXPECT_FALSE(keep.function_version);
  EXPECT_FALSE(keep.routing);
  EXPECT_EQ(keep.description, "d");
  auto remove = parse_alias(R"({"RoutingConfig": {"AdditionalVersionWeights": {}}})", false);
  ASSERT_TRUE(remove.routing);
  EXPECT_FALSE(*remove.routing);
  auto set = parse_alias(R"({"Name": "live", "FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.25}}})", true);
  ASSERT_TRUE(set.routing && *set.routing);
  EXPECT_EQ((*set.routing)->version, "2");
  EXPECT_DOUBLE_EQ((*set.routing)->weight, 0.25);
  EXPECT_NE(error_of([] { parse_alias(R"({"Name": "live"})", true); }).find("FunctionVersion is required"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_alias(R"({"RoutingConfig": {"AdditionalVersionWeights": {"2": 0.1, "3": 0.1}}})", false); })
                .find("one version"),
            std::string::npos);
}

TEST(LambdaRequests, UpdateConfigurationSetsOnlyWhatIsSent) {
  auto u = parse_update_configuration(R"({"Timeout": 9, "RevisionId": "r1", "Environment": {"Variables": {}}})");
  EXPECT_EQ(u.timeout_s, 9u);
  EXPECT_EQ(u.revision_id, "r1");
  ASSERT_TRUE(u.environment);
  EXPECT_TRUE(u.environment->empty());
  EXPECT_FALSE(u.memory_mb);
  EXPECT_FALSE(u.handler);
  EXPECT_FALSE(u.role);
}

TEST(LambdaRequests, LayersArePartOfTheSettings) {
  auto in = parse_create_function(R"({"FunctionName": "f", "Runtime": "provided",
      "Role": "arn:aws:iam::123456789012:role/r", "Code": {"ZipFile": "UEs="},
      "Layers": ["arn:aws:lambda:us-east-1:123456789012:layer:a:1", "arn:aws:lambda:us-east-1:123456789012:layer:b:2"]})");
  ASSERT_EQ(in.settings.layers.size(), 2u);
  EXPECT_EQ(in.settings.layers[1], "arn:aws:lambda:us-east-1:123456789012:layer:b:2");
  EXPECT_FALSE(parse_update_configuration(R"({"Timeout": 3})").layers);
  auto clear = parse_update_configuration(R"({"Layers": []})");
  ASSERT_TRUE(clear.layers);
  EXPECT_TRUE(clear.layers->empty());
  EXPECT_EQ(error_of([] { parse_update_configuration(R"({"Layers": [1]})"); }),
            "InvalidParameterValueException: Layers must be a list of strings");
}

TEST(LambdaRequests, VpcConfigSubnetIdsAreTheDestinationsAFunctionMayReach) {
  auto in = parse_create_function(R"({"FunctionName": "f", "Runtime": "provided",
      "Role": "arn:aws:iam::123456789012:role/r", "Code": {"ZipFile": "UEs="},
      "VpcConfig": {"SubnetIds": ["198.19.0.1:6379", "10.0.0.0/24"], "SecurityGroupIds": ["sg-1"]}})");
  EXPECT_EQ(in.settings.network_allow, (std::vector<std::string>{"198.19.0.1:6379", "10.0.0.0/24"}));
  EXPECT_FALSE(parse_update_configuration(R"({"Timeout": 3})").network_allow);
  auto off = parse_update_configuration(R"({"VpcConfig": {"SubnetIds": [], "SecurityGroupIds": []}})");
  ASSERT_TRUE(off.network_allow);
  EXPECT_TRUE(off.network_allow->empty());
  EXPECT_EQ(error_of([] { parse_update_configuration(R"({"VpcConfig": {"SubnetIds": "10.0.0.1"}})"); }),
            "InvalidParameterValueException: VpcConfig.SubnetIds must be a list of strings");
}

TEST(LambdaRequests, PublishLayerVersionTakesAZipAndItsDescription) {
  auto in = parse_publish_layer_version(R"({"Description": "deps", "LicenseInfo": "MIT",
      "CompatibleRuntimes": ["python3.11", "python3.12"], "CompatibleArchitectures": ["x86_64"],
      "Content": {"ZipFile": ")" + base64_encode("PK\x03\x04zip") + R"("}})");
  EXPECT_EQ(in.settings.description, "deps");
  EXPECT_EQ(in.settings.license_info, "MIT");
  EXPECT_EQ(in.settings.compatible_runtimes, (std::vector<std::string>{"python3.11", "python3.12"}));
  EXPECT_EQ(in.settings.compatible_architectures, (std::vector<std::string>{"x86_64"}));
  EXPECT_EQ(in.content.zip_bytes, "PK\x03\x04zip");
  EXPECT_EQ(error_of([] { parse_publish_layer_version("{}"); }), "InvalidParameterValueException: Content is required");
  EXPECT_NE(error_of([] { parse_publish_layer_version(R"({"Content": {"S3Bucket": "b", "S3Key": "k"}})"); }).find("S3"),
            std::string::npos);
}

}  // namespace
}  // namespace thaw::api
