#include "gateway/endpoint_source.h"

#include "gateway/router/config.h"

namespace berth::gateway {

Result<void> StaticFileSource::Start(UpdateCallback on_update) {
  {
    std::lock_guard lock(mu_);
    on_update_ = std::move(on_update);
  }
  return Reload();
}

void StaticFileSource::Stop() {
  std::lock_guard lock(mu_);
  on_update_ = nullptr;
}

Result<void> StaticFileSource::Reload() {
  auto snap = router::LoadConfigFile(path_);
  if (!snap) return std::unexpected(snap.error());
  std::lock_guard lock(mu_);
  auto s = std::const_pointer_cast<router::Snapshot>(*snap);
  s->version = ++version_;
  if (on_update_) on_update_(s);
  return {};
}

Result<void> ManualSource::Start(UpdateCallback on_update) {
  std::lock_guard lock(mu_);
  on_update_ = std::move(on_update);
  if (current_) on_update_(current_);
  return {};
}

void ManualSource::Stop() {
  std::lock_guard lock(mu_);
  on_update_ = nullptr;
}

void ManualSource::Set(router::SnapshotPtr snapshot) {
  std::lock_guard lock(mu_);
  current_ = std::move(snapshot);
  if (on_update_) on_update_(current_);
}

}  // namespace berth::gateway
