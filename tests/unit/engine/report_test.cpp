#include "engine/report.h"

#include <gtest/gtest.h>

namespace thaw::engine {
namespace {

TEST(Billing, RoundsUpToWholeMilliseconds) {
  EXPECT_EQ(billed_ms(0.2), 1u);
  EXPECT_EQ(billed_ms(1.0), 1u);
  EXPECT_EQ(billed_ms(1.01), 2u);
  EXPECT_EQ(billed_ms(2999.5), 3000u);
  EXPECT_EQ(billed_ms(0), 1u);
}

TEST(Report, ColdCarriesInitDuration) {
  InvocationReport r;
  r.request_id = "abc";
  r.duration_ms = 12.345;
  r.memory_size_mb = 256;
  r.max_memory_used_bytes = 40 * 1024 * 1024 + 1;
  r.start.kind = StartInfo::Kind::kCold;
  r.start.init_ms = 180.5;
  EXPECT_EQ(report_line(r),
            "REPORT RequestId: abc\tDuration: 12.35 ms\tBilled Duration: 13 ms\tMemory Size: 256 MB\t"
            "Max Memory Used: 41 MB\tInit Duration: 180.50 ms");
}

TEST(Report, RestoredCarriesRestoreDurations) {
  InvocationReport r;
  r.request_id = "x";
  r.duration_ms = 1;
  r.memory_size_mb = 128;
  r.start.kind = StartInfo::Kind::kRestored;
  r.start.restore_ms = 95.25;
  r.start.billed_restore_ms = 3.2;
  auto s = report_line(r);
  EXPECT_NE(s.find("\tRestore Duration: 95.25 ms\tBilled Restore Duration: 4 ms"), std::string::npos) << s;
  EXPECT_EQ(s.find("Init Duration"), std::string::npos);
}

TEST(Report, TimeoutStatus) {
  InvocationReport r;
  r.request_id = "t";
  r.status = "timeout";
  EXPECT_NE(report_line(r).find("\tStatus: timeout"), std::string::npos);
}

}  // namespace
}  // namespace thaw::engine
