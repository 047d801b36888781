#include "engine/qualifier.h"

#include <gtest/gtest.h>

#include "engine/alias_router.h"
#include "thaw/error.h"

namespace thaw::engine {
namespace {

void expect_invalid(std::string_view function, std::string_view qualifier = {}) {
  try {
    parse_function_ref(function, qualifier);
    ADD_FAILURE() << "accepted '" << function << "' / '" << qualifier << "'";
  } catch (const EngineError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidParameter) << function;
  }
}

TEST(Qualifier, EveryFormLambdaAccepts) {
  struct Case {
    std::string function, qualifier, name, resolved;
    QualifierKind kind;
  } cases[] = {
      {"my-fn", "", "my-fn", "", QualifierKind::kNone},
      {"my_fn", "3", "my_fn", "3", QualifierKind::kVersion},
      {"my-fn:$LATEST", "", "my-fn", "$LATEST", QualifierKind::kLatest},
      {"my-fn:live", "", "my-fn", "live", QualifierKind::kAlias},
      {"my-fn:live", "live", "my-fn", "live", QualifierKind::kAlias},
      {"123456789012:function:my-fn", "", "my-fn", "", QualifierKind::kNone},
      {"123456789012:function:my-fn:7", "", "my-fn", "7", QualifierKind::kVersion},
      {"arn:aws:lambda:us-east-1:123456789012:function:my-fn", "", "my-fn", "", QualifierKind::kNone},
      {"arn:aws:lambda:eu-west-1:000000000000:function:my-fn:prod", "", "my-fn", "prod", QualifierKind::kAlias},
      {"arn:aws:lambda:us-east-1:123456789012:function:my-fn", "$LATEST", "my-fn", "$LATEST", QualifierKind::kLatest},
      {"arn:aws-cn:lambda:cn-north-1:123456789012:function:f:12", "", "f", "12", QualifierKind::kVersion},
  };
  for (const auto& c : cases) {
    auto ref = parse_function_ref(c.function, c.qualifier);
    EXPECT_EQ(ref.name, c.name) << c.function;
    EXPECT_EQ(ref.qualifier, c.resolved) << c.function;
    EXPECT_EQ(ref.kind, c.kind) << c.function;
  }
}

TEST(Qualifier, MalformedNamesArnsAndQualifiersAreInvalidParameters) {
  expect_invalid("");
  expect_invalid("has space");
  expect_invalid(std::string(65, 'a'));
  expect_invalid("my-fn:");
  expect_invalid("a:b:c");
  expect_invalid("my-fn:live", "prod");             // disagrees with the Qualifier parameter
  expect_invalid("my-fn", "01");                    // not a version number
  expect_invalid("my-fn", "bad.alias");
  expect_invalid("arn:aws:lambda:us-east-1:123:function:f");  // account id
  expect_invalid("arn:aws:s3:us-east-1:123456789012:function:f");
  expect_invalid("arn:aws:lambda:us-east-1:123456789012:layer:f");
  expect_invalid("arn:aws:lambda:us-east-1:123456789012:function:f:1:2");
  expect_invalid("12345678901:function:f");
}

TEST(Qualifier, AliasNamesAreNotVersionNumbers) {
  EXPECT_NO_THROW(check_alias_name("v1"));
  EXPECT_NO_THROW(check_alias_name("BLUE_green-2"));
  EXPECT_THROW(check_alias_name("42"), EngineError);
  EXPECT_THROW(check_alias_name(""), EngineError);
  EXPECT_THROW(check_alias_name(std::string(129, 'a')), EngineError);
}

TEST(Qualifier, ArnsAreWrittenAsLambdaWritesThem) {
  EXPECT_EQ(function_arn("us-east-1", "000000000000", "f"), "arn:aws:lambda:us-east-1:000000000000:function:f");
  EXPECT_EQ(function_arn("us-east-1", "000000000000", "f", "3"), "arn:aws:lambda:us-east-1:000000000000:function:f:3");
}

TEST(AliasRouter, TheSplitIsExactAtEveryPrefix) {
  for (double weight : {0.0, 0.01, 0.1, 0.25, 0.29, 0.3, 0.5, 0.77, 0.999999, 1.0}) {
    uint64_t w = weight_millionths(weight), additional = 0;
    for (uint64_t n = 0; n < 1000; ++n) {
      additional += routes_to_additional(n, w);
      EXPECT_EQ(additional, (n + 1) * w / kWeightScale) << "weight " << weight << " after " << n + 1;
    }
  }
  uint64_t w = weight_millionths(0.3), first100 = 0;
  for (uint64_t n = 0; n < 100; ++n) first100 += routes_to_additional(n, w);
  EXPECT_EQ(first100, 30u);
}

}  // namespace
}  // namespace thaw::engine
