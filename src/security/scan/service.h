// The scanner as berthd runs it beside a node's image store: owns the advisory database,
// scans images (inventory + match) and keeps each image's latest report, and publishes a
// summary of every report to the store (`/security/scans/<image ref>`) for admission and
// `berth security findings`, which may run on another control plane.
//
// When it scans: an image named by ScanSoon (after an import, pull or build), every image
// whose report is older than the database (after each import: a rescan of everything), and,
// every `sweep` interval, any image it has not scanned yet (images the node agent pulled).
// One worker thread does all of it, one image at a time.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "security/scan/advisory_db.h"
#include "security/scan/matcher.h"
#include "store/store.h"

namespace berth::security::scan {

// Store keys this component owns (values: JSON documents described in its README).
inline constexpr std::string_view kScansPrefix = "/security/scans/";
inline constexpr std::string_view kIgnoresPrefix = "/security/ignores/";
inline constexpr std::string_view kPoliciesPrefix = "/security/policies/";

// The key an image's scan summary is published under: its reference with ":latest" added
// when it names no tag or digest (the image store's rule, agent/image NormalizeRef).
std::string ImageKey(std::string_view ref);

// An image as the scanner needs it.
struct ScanImage {
  std::string ref;                      // the name it was asked by ("shop/web:1")
  std::string id;                       // config digest
  std::vector<std::string> layer_dirs;  // unpacked layers, bottom first
  std::vector<std::string> layer_ids;   // their diff ids
  std::string user;                     // the image's configured user ("" : root)
};

struct ScanServiceOptions {
  std::string db_path;                     // the advisory database file
  std::chrono::milliseconds sweep{10000};  // how often unscanned images are looked for
  // Finds an image by reference, and lists every image's references.
  std::function<Result<ScanImage>(std::string_view ref)> image;
  std::function<std::vector<std::string>()> images;
};

class ScanService {
 public:
  static Result<std::unique_ptr<ScanService>> Start(ScanServiceOptions options, store::Store& store,
                                                    Clock& clock);
  ~ScanService();
  ScanService(const ScanService&) = delete;
  ScanService& operator=(const ScanService&) = delete;

  // Reads `path` (OSV file, directory or zip; Debian tracker JSON), imports it all or nothing,
  // then rescans every image in the background.
  Result<ImportResult> Import(const std::string& path);
  Result<DbStatus> Status() { return db_->Status(); }
  // The latest report of `ref`: kept if it is of this image and this database, else scanned
  // now (`rescan`: always scanned now).
  Result<ScanReport> Report(std::string_view ref, bool rescan = false);
  // Queues a scan of `ref` (after an import, pull or build).
  void ScanSoon(std::string ref);
  // Stops the worker (also done by the destructor).
  void Stop();

  AdvisoryDb& db() { return *db_; }

 private:
  ScanService(ScanServiceOptions options, std::unique_ptr<AdvisoryDb> db, store::Store& store,
              Clock& clock)
      : options_(std::move(options)), db_(std::move(db)), store_(store), clock_(clock) {}
  Result<ScanReport> ScanNow(std::string_view ref);
  Result<void> Publish(const ScanReport& r);
  void Run();

  ScanServiceOptions options_;
  std::unique_ptr<AdvisoryDb> db_;
  store::Store& store_;
  Clock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;              // guarded by mu_
  bool rescan_all_ = false;                    // guarded by mu_
  bool stopping_ = false;                      // guarded by mu_
  std::map<std::string, ScanReport> reports_;  // by ref; guarded by mu_
  std::thread worker_;
};

// The summary published for one report: {"image","image_id","scanned_ms","db_generation",
// "db_imported_ms","summary":{counts},"findings":[{advisory,aliases,severity,score,package,
// version,fixed,type}]}.
Json ScanSummaryJson(const ScanReport& r);

}  // namespace berth::security::scan
