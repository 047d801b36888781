// thaw::Engine's provisioned concurrency: configurations kept in the function's record, their
// sandboxes started ahead by the provisioner thread (restored from the version's snapshot, or
// cold-started with INIT type provisioned-concurrency) and kept pinned in the pool, under
// their own key, until the configuration goes or asks for fewer.
#include <spdlog/spdlog.h>

#include "engine/engine_impl.h"
#include "engine/qualifier.h"
#include "restore-hooks/host_hooks.h"

namespace thaw {
using engine::FunctionRecord;
using engine::QualifierKind;
using engine::VersionRecord;

namespace {

ProvisionedConcurrencyInfo info_of(const std::string& function, const std::string& qualifier,
                                   const engine::ProvisionedRecord& rec,
                                   const std::optional<engine::ProvisionedConfig>& live) {
  ProvisionedConcurrencyInfo i;
  i.function = function;
  i.qualifier = qualifier;
  i.requested = rec.requested;
  i.last_modified = rec.last_modified;
  if (live) {
    i.allocated = live->ready;
    i.status = live->state;
    i.status_reason = live->status_reason;
  }
  return i;
}

// A published version or an alias; $LATEST and a bare name are refused as Lambda refuses them.
engine::FunctionRef provisionable(const std::string& function, const std::string& qualifier) {
  auto ref = engine::parse_function_ref(function, qualifier);
  if (ref.kind != QualifierKind::kVersion && ref.kind != QualifierKind::kAlias)
    throw EngineError(ErrorCode::kInvalidParameter,
                      "Provisioned Concurrency Configs cannot be applied to unpublished function versions.");
  return ref;
}

[[noreturn]] void no_config(const engine::FunctionRef& ref) {
  throw EngineError(ErrorCode::kProvisionedConfigNotFound,
                    "No Provisioned Concurrency Config found for this function (" + ref.name + ":" + ref.qualifier + ")");
}

}  // namespace

std::string Engine::Impl::provisioned_prefix(const std::string& function, const std::string& qualifier) {
  return "provisioned:" + function + "/" + (qualifier.empty() ? "" : qualifier + "/");
}

std::string Engine::Impl::provisioned_pool_key(const std::string& function, const std::string& qualifier,
                                               uint64_t generation) {
  return provisioned_prefix(function, qualifier) + std::to_string(generation);
}

void Engine::Impl::retire_provisioned(const std::string& function, const std::string& qualifier) {
  pool.retire(provisioned_prefix(function, qualifier));
}

unsigned Engine::Impl::provisioned_total(const FunctionRecord& r) const {
  unsigned n = 0;
  for (const auto& [q, c] : r.provisioned) n += c.requested;
  return n;
}

void Engine::Impl::refresh_provisioned(const FunctionRecord& r, const std::string& put_again) {
  for (const auto& [q, c] : r.provisioned) {
    std::string key;
    try {
      const auto& v = resolve(r, engine::parse_function_ref(r.name, q));
      if (v.state == FunctionState::kActive) key = pool_key(r.name, v);
    } catch (const EngineError&) {
      // the alias or version went: its configuration waits (delete_* removes it)
    }
    auto live = provisioned.get(r.name, q);
    if (live && live->pool_key == key && live->requested == c.requested && q != put_again) continue;
    auto now = provisioned.put(r.name, q, c.requested, key, c.last_modified);
    if (live && now.generation != live->generation)
      pool.retire(provisioned_pool_key(r.name, q, live->generation));  // the version it was for
  }
}

void Engine::Impl::load_provisioned() {
  for (const auto& [name, r] : records) {
    if (r.provisioned.empty()) continue;
    limits.set_provisioned(name, provisioned_total(r), false);
    refresh_provisioned(r);
  }
}

void Engine::Impl::provision_loop() {
  while (auto w = provisioned.next_work()) provision_one(*w);
}

void Engine::Impl::provision_one(const engine::ProvisionWork& w) {
  VersionRecord v;
  {
    std::lock_guard lock(mu);
    auto it = records.find(w.function);
    if (it == records.end()) return;  // deleted meanwhile: its configurations went with it
    try {
      v = resolve(it->second, engine::parse_function_ref(w.function, w.qualifier));
    } catch (const EngineError& e) {
      provisioned.start_failed(w, e.what());
      return;
    }
    if (pool_key(w.function, v) != w.pool_key) return;  // re-put with another artifact: a new generation
  }
  try {
    InvokeResult failed;
    auto s = start_sandbox(w.function, v, "provisioned-" + hooks::new_uuid_v4(), failed, "provisioned-concurrency");
    if (!s) {
      provisioned.start_failed(w, "INIT failed: " + failed.error_type + ": " + failed.payload);
      return;
    }
    s->provisioned_for = {w.function, w.qualifier};
    s->provisioned_generation = w.generation;
    s->on_gone = [this, key = s->provisioned_for, generation = w.generation] { provisioned.gone(key, generation); };
    provisioned.started(w);
    pool.give_back(provisioned_pool_key(w.function, w.qualifier, w.generation), std::move(s), true, true);
  } catch (const std::exception& e) {
    spdlog::warn("provisioned concurrency of {}:{}: {}", w.function, w.qualifier, e.what());
    provisioned.start_failed(w, e.what());
  }
}

std::unique_ptr<engine::PooledSandbox> Engine::Impl::take_provisioned(const std::string& name,
                                                                      const std::string& qualifier,
                                                                      const std::string& key) {
  auto c = provisioned.get(name, qualifier);
  if (!c || c->pool_key != key) return nullptr;  // none, or the alias routed this one elsewhere
  auto s = pool.take(provisioned_pool_key(name, qualifier, c->generation));
  if (s)
    provisioned.lent({name, qualifier});
  else
    provisioned.spilled_over({name, qualifier});
  return s;
}

void Engine::Impl::give_back_provisioned(std::unique_ptr<engine::PooledSandbox> s) {
  const auto key = s->provisioned_for;
  const auto generation = s->provisioned_generation;
  provisioned.returned(key);
  if (!s->sandbox->alive()) return;  // its on_gone asks for another
  if (!provisioned.still_wanted(key, generation)) {
    s->on_gone = nullptr;  // still_wanted counted it out already
    return;
  }
  pool.give_back(provisioned_pool_key(key.first, key.second, generation), std::move(s), true, true);
}

void Engine::Impl::stop_provisioner() {
  provisioned.stop();
  if (provisioner.joinable()) provisioner.join();
}

ProvisionedConcurrencyInfo Engine::put_provisioned_concurrency(const std::string& function,
                                                               const std::string& qualifier, unsigned count) {
  auto ref = provisionable(function, qualifier);
  if (count == 0)
    throw EngineError(ErrorCode::kInvalidParameter,
                      "1 validation error detected: Value '0' at 'provisionedConcurrentExecutions' failed to satisfy "
                      "constraint: Member must have value greater than or equal to 1");
  std::lock_guard lock(impl_->mu);
  auto& r = impl_->record_of(ref.name);
  impl_->resolve(r, ref);  // ResourceNotFoundException for a version or alias it does not have
  FunctionRecord next = r;
  next.provisioned[ref.qualifier] = {count, engine::now_iso8601()};
  impl_->limits.set_provisioned(ref.name, impl_->provisioned_total(next));
  try {
    impl_->persist(next);
  } catch (...) {
    impl_->limits.set_provisioned(ref.name, impl_->provisioned_total(r), false);
    throw;
  }
  r = std::move(next);
  impl_->refresh_provisioned(r, ref.qualifier);
  return info_of(r.name, ref.qualifier, r.provisioned.at(ref.qualifier), impl_->provisioned.get(r.name, ref.qualifier));
}

ProvisionedConcurrencyInfo Engine::get_provisioned_concurrency(const std::string& function,
                                                               const std::string& qualifier) const {
  auto ref = provisionable(function, qualifier);
  std::lock_guard lock(impl_->mu);
  const auto& r = impl_->record_of(ref.name);
  auto it = r.provisioned.find(ref.qualifier);
  if (it == r.provisioned.end()) no_config(ref);
  return info_of(r.name, ref.qualifier, it->second, impl_->provisioned.get(r.name, ref.qualifier));
}

std::vector<ProvisionedConcurrencyInfo> Engine::list_provisioned_concurrency(const std::string& function) const {
  auto ref = engine::parse_function_ref(function);
  std::lock_guard lock(impl_->mu);
  const auto& r = impl_->record_of(ref.name);
  std::vector<ProvisionedConcurrencyInfo> out;
  for (const auto& [q, c] : r.provisioned) out.push_back(info_of(r.name, q, c, impl_->provisioned.get(r.name, q)));
  return out;
}

void Engine::delete_provisioned_concurrency(const std::string& function, const std::string& qualifier) {
  auto ref = provisionable(function, qualifier);
  {
    std::lock_guard lock(impl_->mu);
    auto& r = impl_->record_of(ref.name);
    if (!r.provisioned.contains(ref.qualifier)) no_config(ref);
    FunctionRecord next = r;
    next.provisioned.erase(ref.qualifier);
    impl_->persist(next);
    r = std::move(next);
    impl_->limits.set_provisioned(ref.name, impl_->provisioned_total(r), false);
    impl_->provisioned.remove(ref.name, ref.qualifier);
  }
  // Outside the lock: each SHUTDOWN may wait for its runtime. Busy ones go when they come back.
  impl_->retire_provisioned(ref.name, ref.qualifier);
}

}  // namespace thaw
