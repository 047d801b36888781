#pragma once
// Runs one body on several threads at once and waits for them: the shape of
// every bulk job that hands out work from a shared counter (the page store's
// writer, read_all, the repack).
#include <atomic>
#include <functional>

namespace thaw {

// Runs `body` on `threads` threads (the calling thread is one of them; 0 counts
// as 1) and returns once all have returned. The first exception any of them
// throws sets `failed`, which the others should poll to stop early, and is
// rethrown here once all have stopped.
void run_on_threads(unsigned threads, std::atomic<bool> &failed, const std::function<void()> &body);

}  // namespace thaw
