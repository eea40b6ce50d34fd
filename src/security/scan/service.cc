#include "security/scan/service.h"

#include <fmt/core.h>

#include <algorithm>
#include <filesystem>

#include "core/log.h"

namespace berth::security::scan {
namespace {

constexpr size_t kMaxPublishedFindings = 2000;

}  // namespace

std::string ImageKey(std::string_view ref) {
  std::string r(ref);
  size_t slash = r.rfind('/');
  size_t colon = r.rfind(':');
  if (r.find('@') == std::string::npos &&
      (colon == std::string::npos || (slash != std::string::npos && colon < slash))) {
    r += ":latest";
  }
  return r;
}

Json ScanSummaryJson(const ScanReport& r) {
  Json findings = Json::array();
  for (const auto& f : r.findings) {
    if (findings.size() >= kMaxPublishedFindings) break;
    Json j{{"advisory", f.advisory}, {"aliases", f.aliases}, {"severity", SeverityName(f.severity)},
           {"package", f.package},   {"version", f.version}, {"fixed", f.fixed},
           {"type", f.type}};
    if (f.score > 0) j["score"] = f.score;
    findings.push_back(std::move(j));
  }
  return Json{{"image", r.image},
              {"image_id", r.image_id},
              {"user", r.user},
              {"scanned_ms", r.scanned_ms},
              {"db_generation", r.db_generation},
              {"db_imported_ms", r.db_imported_ms},
              {"packages", r.inventory.packages.size()},
              {"summary", SeverityCounts(r.findings)},
              {"truncated", r.findings.size() > kMaxPublishedFindings},
              {"findings", std::move(findings)}};
}

Result<std::unique_ptr<ScanService>> ScanService::Start(ScanServiceOptions options,
                                                        store::Store& store, Clock& clock) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(options.db_path).parent_path(), ec);
  auto db = AdvisoryDb::Open(options.db_path);
  if (!db) return std::unexpected(db.error());
  std::unique_ptr<ScanService> s(new ScanService(std::move(options), std::move(*db), store, clock));
  s->worker_ = std::thread([p = s.get()] { p->Run(); });
  return s;
}

ScanService::~ScanService() { Stop(); }

void ScanService::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

Result<ImportResult> ScanService::Import(const std::string& path) {
  ReadReport read;
  auto advs = ReadAdvisories(path, &read);
  if (!advs) return std::unexpected(advs.error());
  if (advs->empty()) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("{}: no advisories in it", path));
  }
  auto r = db_->Import(*advs, path, clock_.WallMillis());
  if (!r) return std::unexpected(r.error());
  r->files = read.files;
  r->warnings = std::move(read.warnings);
  log::Info("security", "imported {} advisories from {} (generation {}); rescanning images",
            r->advisories, path, r->generation);
  {
    std::lock_guard lock(mu_);
    rescan_all_ = true;
  }
  cv_.notify_all();
  return r;
}

Result<ScanReport> ScanService::ScanNow(std::string_view ref) {
  auto image = options_.image(ref);
  if (!image) return std::unexpected(image.error());
  auto fs = ImageFs::Open(image->layer_dirs);
  if (!fs) return std::unexpected(fs.error());
  const int64_t generation = db_->generation();
  auto inv = ReadInventory(**fs, image->layer_ids);
  if (!inv) return std::unexpected(Wrap(inv.error(), fmt::format("scan {}", ref)));
  auto findings = Match(*inv, *db_);
  if (!findings) return std::unexpected(findings.error());
  auto status = db_->Status();
  if (!status) return std::unexpected(status.error());
  ScanReport r;
  r.image = image->ref.empty() ? ImageKey(ref) : image->ref;
  r.image_id = image->id;
  r.user = image->user;
  r.scanned_ms = clock_.WallMillis();
  r.db_generation = generation;
  r.db_imported_ms = status->imported_ms;
  r.db_source = status->last_source;
  r.inventory = std::move(*inv);
  r.findings = std::move(*findings);
  if (auto p = Publish(r); !p) {
    log::Warn("security", "scan of {} not published: {}", ref, p.error().message);
  }
  std::lock_guard lock(mu_);
  reports_[ImageKey(ref)] = r;
  return r;
}

Result<void> ScanService::Publish(const ScanReport& r) {
  auto put = store_.Put(std::string(kScansPrefix) + ImageKey(r.image), ScanSummaryJson(r).dump());
  if (!put) return std::unexpected(put.error());
  return {};
}

Result<ScanReport> ScanService::Report(std::string_view ref, bool rescan) {
  if (!rescan) {
    auto image = options_.image(ref);
    if (!image) return std::unexpected(image.error());
    std::lock_guard lock(mu_);
    auto it = reports_.find(ImageKey(ref));
    if (it != reports_.end() && it->second.image_id == image->id &&
        it->second.db_generation == db_->generation()) {
      return it->second;
    }
  }
  return ScanNow(ref);
}

void ScanService::ScanSoon(std::string ref) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(ref));
  }
  cv_.notify_all();
}

void ScanService::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, options_.sweep, [&] { return stopping_ || rescan_all_ || !queue_.empty(); });
    if (stopping_) break;
    std::vector<std::string> todo(queue_.begin(), queue_.end());
    queue_.clear();
    const bool all = rescan_all_;
    rescan_all_ = false;
    // Every image whose report is missing or older than the database (the sweep).
    const int64_t generation = db_->generation();
    lock.unlock();
    if (options_.images) {
      for (const auto& ref : options_.images()) {
        std::lock_guard check(mu_);
        auto it = reports_.find(ImageKey(ref));
        if (all || it == reports_.end() || it->second.db_generation != generation) {
          todo.push_back(ref);
        }
      }
    }
    std::sort(todo.begin(), todo.end());
    todo.erase(std::unique(todo.begin(), todo.end()), todo.end());
    for (const auto& ref : todo) {
      auto r = ScanNow(ref);
      if (!r) {
        log::Warn("security", "scan of {} failed: {}", ref, r.error().message);
        // A failed scan is published too: admission treats the image as not scanned.
        (void)store_.Put(
            std::string(kScansPrefix) + ImageKey(ref),
            Json{{"image", ref}, {"error", r.error().message}, {"scanned_ms", clock_.WallMillis()}}
                .dump());
        std::lock_guard l(mu_);
        ScanReport failed;
        failed.image = ref;
        failed.db_generation = generation;
        reports_[ImageKey(ref)] = std::move(failed);  // not retried until the database changes
      }
      std::lock_guard l(mu_);
      if (stopping_) return;
    }
    lock.lock();
  }
}

}  // namespace berth::security::scan
