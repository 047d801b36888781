#pragma once
// The ErrorCode a call throws, for tests of thaw::Engine (kInternal when it throws none).
#include <functional>

#include "thaw/error.h"

namespace thaw::test {

inline ErrorCode code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const EngineError& e) {
    return e.code();
  }
  return ErrorCode::kInternal;
}

}  // namespace thaw::test
