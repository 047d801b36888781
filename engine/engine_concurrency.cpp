// thaw::Engine's concurrency controls: the limits an engine takes from its options and its
// host, and reserved concurrency per function (kept in the function's record).
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>

#include "engine/engine_impl.h"
#include "engine/qualifier.h"

namespace thaw {

namespace {

uint64_t host_memory_mb() {
  long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) >> 20 : 0;
}

}  // namespace

namespace engine {

ConcurrencyConfig concurrency_config(const ConcurrencyOptions& o) {
  ConcurrencyConfig c;
  c.memory_budget_mb = o.memory_budget_mb;
  if (c.memory_budget_mb == 0) {
    uint64_t host = host_memory_mb();
    c.memory_budget_mb = host > o.host_reserve_mb + 128 ? host - o.host_reserve_mb : 128;
  }
  c.account_limit = o.account_limit ? o.account_limit : unsigned(std::clamp<uint64_t>(c.memory_budget_mb / 128, 1, 1000));
  c.unreserved_minimum = std::min(c.account_limit, o.unreserved_minimum.value_or(std::max(1u, c.account_limit / 10)));
  c.burst = std::max(1u, std::min(o.burst_sandboxes, c.account_limit));
  c.burst_window = o.burst_window;
  return c;
}

}  // namespace engine

void Engine::Impl::load_reservations() {
  for (const auto& [name, r] : records) {
    if (!r.reserved_concurrency) continue;
    limits.set_reserved(name, r.reserved_concurrency, false);
  }
  if (limits.unreserved_limit() < limits.config().unreserved_minimum)
    spdlog::warn("engine: the functions' reservations leave {} unreserved concurrency, under the minimum {} "
                 "(the account limit is {})",
                 limits.unreserved_limit(), limits.config().unreserved_minimum, limits.config().account_limit);
}

void Engine::put_function_concurrency(const std::string& function, unsigned reserved) {
  auto ref = engine::parse_function_ref(function);
  if (ref.kind == engine::QualifierKind::kVersion || ref.kind == engine::QualifierKind::kAlias)
    throw EngineError(ErrorCode::kInvalidParameter, "reserved concurrency is set on a function, not on a version or alias");
  std::lock_guard lock(impl_->mu);
  auto& r = impl_->record_of(ref.name);
  auto previous = impl_->limits.reserved(ref.name);
  impl_->limits.set_reserved(ref.name, reserved);
  engine::FunctionRecord next = r;
  next.reserved_concurrency = reserved;
  try {
    impl_->persist(next);
  } catch (...) {
    impl_->limits.set_reserved(ref.name, previous, false);
    throw;
  }
  r = std::move(next);
}

std::optional<unsigned> Engine::get_function_concurrency(const std::string& function) const {
  auto ref = engine::parse_function_ref(function);
  std::lock_guard lock(impl_->mu);
  return impl_->record_of(ref.name).reserved_concurrency;
}

void Engine::delete_function_concurrency(const std::string& function) {
  auto ref = engine::parse_function_ref(function);
  std::lock_guard lock(impl_->mu);
  auto& r = impl_->record_of(ref.name);
  engine::FunctionRecord next = r;
  next.reserved_concurrency.reset();
  impl_->persist(next);
  impl_->limits.set_reserved(ref.name, std::nullopt, false);
  r = std::move(next);
}

AccountSettings Engine::account_settings() const {
  AccountSettings a;
  const auto& c = impl_->limits.config();
  a.concurrent_executions = c.account_limit;
  a.unreserved_concurrent_executions = impl_->limits.unreserved_limit();
  a.unreserved_minimum = c.unreserved_minimum;
  a.memory_budget_mb = c.memory_budget_mb;
  a.code_size_zipped_limit = engine::kMaxZipBytes;
  a.code_size_unzipped_limit = engine::kMaxUnzippedBytes;
  a.total_code_size_limit = 75ull << 30;  // Lambda's 75 GB
  std::lock_guard lock(impl_->mu);
  a.function_count = unsigned(impl_->records.size());
  for (const auto& [name, r] : impl_->records) {
    a.total_code_size += r.latest.code_size;
    for (const auto& [n, v] : r.versions) a.total_code_size += v.code_size;
  }
  return a;
}

}  // namespace thaw
