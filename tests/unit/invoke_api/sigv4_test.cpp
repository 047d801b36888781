// SigV4 as botocore signs: a request signed by botocore 1.29 (Debian's) verifies; any change to
// what is signed, a wrong secret, key, region or a clock more than 5 minutes off is refused with
// the exception AWS answers.
#include <gtest/gtest.h>

#include "invoke-api/api_error.h"
#include "invoke-api/sigv4.h"

namespace thaw::api {
namespace {

using namespace std::chrono;

const sys_seconds kSigned = sys_days{year{2026} / 12 / 2} + hours(6);

// botocore.auth.SigV4Auth(Credentials("AKIDTHAWTEST", "s3cr3t/key"), "lambda", "us-east-1") at
// 2026-12-02T06:00:00Z, for an Invoke of an ARN with ?Qualifier=$LATEST.
HttpRequest botocore_signed() {
  HttpRequest r;
  r.method = "POST";
  r.target = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Aecho/invocations"
             "?Qualifier=%24LATEST";
  r.headers = {{"Host", "127.0.0.1:9000"},
               {"X-Amz-Invocation-Type", "RequestResponse"},
               {"User-Agent", "Boto3/1.26.27  test"},
               {"X-Amz-Date", "20261202T060000Z"},
               {"Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDTHAWTEST/20261202/us-east-1/lambda/aws4_request, "
                "SignedHeaders=host;x-amz-date;x-amz-invocation-type, "
                "Signature=fb53901b0f64c4728c743edf6dd626649e25dd1b9bdeffc3adf5a00d5c613b1e"}};
  r.body = R"({"hello": "thaw"})";
  return r;
}

std::string refusal(const SigV4Verifier& v, const HttpRequest& r, system_clock::time_point now = kSigned) {
  try {
    v.verify(r, now);
    return "accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 403) << e.what();
    return e.exception();
  }
}

TEST(SigV4, ARequestBotocoreSignedVerifies) {
  SigV4Verifier v({{"AKIDTHAWTEST", "s3cr3t/key"}}, "us-east-1");
  EXPECT_EQ(refusal(v, botocore_signed()), "accepted");
  EXPECT_EQ(refusal(v, botocore_signed(), kSigned + minutes(4)), "accepted");
}

TEST(SigV4, TheCanonicalRequestEncodesThePathTwiceAndSortsTheQuery) {
  auto r = botocore_signed();
  r.target = "/2015-03-31/functions/a%3Ab/./x/../invocations/?b=2&a=%24LATEST";
  EXPECT_EQ(sigv4_canonical_request(r, "host;x-amz-date", "HASH"),
            "POST\n/2015-03-31/functions/a%253Ab/invocations/\na=%24LATEST&b=2\nhost:127.0.0.1:9000\n"
            "x-amz-date:20261202T060000Z\n\nhost;x-amz-date\nHASH");
}

TEST(SigV4, AnythingElseIsRefusedAsAwsRefusesIt) {
  SigV4Verifier v({{"AKIDTHAWTEST", "s3cr3t/key"}}, "us-east-1");
  EXPECT_EQ(refusal(SigV4Verifier({{"AKIDTHAWTEST", "other"}}, "us-east-1"), botocore_signed()),
            "InvalidSignatureException");
  EXPECT_EQ(refusal(SigV4Verifier({{"AKIDOTHER", "s3cr3t/key"}}, "us-east-1"), botocore_signed()),
            "UnrecognizedClientException");
  EXPECT_EQ(refusal(SigV4Verifier({{"AKIDTHAWTEST", "s3cr3t/key"}}, "eu-west-1"), botocore_signed()),
            "InvalidSignatureException");
  EXPECT_EQ(refusal(v, botocore_signed(), kSigned + minutes(6)), "InvalidSignatureException");
  EXPECT_EQ(refusal(v, botocore_signed(), kSigned - minutes(6)), "InvalidSignatureException");

  auto body = botocore_signed();
  body.body = R"({"hello": "thaw!"})";
  EXPECT_EQ(refusal(v, body), "InvalidSignatureException");
  auto header = botocore_signed();
  header.headers[1].second = "Event";  // a signed header changed
  EXPECT_EQ(refusal(v, header), "InvalidSignatureException");
  auto unsigned_header = botocore_signed();
  unsigned_header.headers[2].second = "curl";  // User-Agent is not signed
  EXPECT_EQ(refusal(v, unsigned_header), "accepted");
  auto query = botocore_signed();
  query.target.replace(query.target.find("%24LATEST"), 9, "1");
  EXPECT_EQ(refusal(v, query), "InvalidSignatureException");

  auto missing = botocore_signed();
  missing.headers.pop_back();
  EXPECT_EQ(refusal(v, missing), "MissingAuthenticationTokenException");
  auto malformed = botocore_signed();
  malformed.headers.back().second = "AWS4-HMAC-SHA256 Credential=AKIDTHAWTEST/20261202";
  EXPECT_EQ(refusal(v, malformed), "IncompleteSignatureException");
  auto v2 = botocore_signed();
  v2.headers.back().second = "AWS AKIDTHAWTEST:signature";
  EXPECT_EQ(refusal(v, v2), "IncompleteSignatureException");
}

}  // namespace
}  // namespace thaw::api
