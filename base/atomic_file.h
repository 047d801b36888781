#pragma once
// Crash-safe file replacement: the bytes go to a temp file beside the target, which is fsynced,
// renamed over the target, and the directory fsynced. After a crash at any point readers see
// the old file or the new one, never a torn one; a crash can leave a "*.tmp-*" file, which
// remove_stale_temp_files() clears.
#include <cstddef>
#include <filesystem>
#include <functional>
#include <span>
#include <string_view>

namespace thaw {

// The points between the syscalls of one atomic write, for tests that crash a writer at each.
enum class AtomicWriteStep { kTempCreated, kTempWritten, kTempSynced, kRenamed, kDirectorySynced };

// Called after each step of every atomic write of this process (tests only; null by default).
// Not thread-safe to change while writes run.
void set_atomic_write_observer(std::function<void(AtomicWriteStep)> observer);

void write_file_atomic(const std::filesystem::path& file, std::span<const std::byte> bytes);
void write_file_atomic(const std::filesystem::path& file, std::string_view text);
void fsync_directory(const std::filesystem::path& dir);
// Removes the temp files an interrupted write_file_atomic left in `dir` (not recursive).
void remove_stale_temp_files(const std::filesystem::path& dir);

}  // namespace thaw
