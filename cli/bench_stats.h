#pragma once
// Samples of one measurement in a benchmark run, the order statistics the benchmarks print,
// and the clock they read.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

namespace thaw::cli {

inline double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

struct Series {
  std::vector<double> v;
  double median() const { return percentile(50); }
  // Nearest-rank percentile (p in 0..100); 0 for no samples.
  double percentile(double p) const {
    if (v.empty()) return 0;
    auto s = v;
    std::sort(s.begin(), s.end());
    if (p == 50 && s.size() % 2 == 0) return (s[s.size() / 2 - 1] + s[s.size() / 2]) / 2;
    size_t rank = size_t(std::ceil(p / 100.0 * double(s.size())));
    return s[std::clamp<size_t>(rank, 1, s.size()) - 1];
  }
  double min() const { return v.empty() ? 0 : *std::min_element(v.begin(), v.end()); }
  double max() const { return v.empty() ? 0 : *std::max_element(v.begin(), v.end()); }
};

}  // namespace thaw::cli
