#include <benchmark/benchmark.h>

#include "base/log.h"

int main(int argc, char** argv) {
  thaw::init_logging("warn");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
