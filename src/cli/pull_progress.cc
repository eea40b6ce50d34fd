#include "cli/pull_progress.h"

#include <fmt/core.h>

#include <algorithm>

namespace berth::cli {

std::string ShortId(const std::string& id, size_t n) {
  std::string s = id.starts_with("sha256:") ? id.substr(7) : id;
  return s.substr(0, n);
}

PullProgressView::PullProgressView(std::ostream& out, bool terminal)
    : out_(out), terminal_(terminal) {}

namespace {
std::string Mb(uint64_t bytes) {
  return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6);
}
}  // namespace

void PullProgressView::Update(const std::string& digest, uint64_t done, uint64_t total) {
  auto [it, fresh] = blobs_.try_emplace(digest);
  Blob& b = it->second;
  b.done = done;
  b.total = total;
  const bool complete = total > 0 && done >= total;
  if (fresh) order_.push_back(digest);
  if (!terminal_) {
    if (fresh) out_ << "pulling " << ShortId(digest) << " (" << Mb(total) << ")\n";
    if (complete && !b.reported) out_ << "pulled  " << ShortId(digest) << "\n";
    if (complete) b.reported = true;
    out_.flush();
    return;
  }
  if (complete && !b.reported) {
    out_ << "\r\033[K"
         << "pulled  " << ShortId(digest) << " (" << Mb(total) << ")\n";
    b.reported = true;
  }
  Draw();
}

std::string PullProgressView::Bar() const {
  uint64_t done = 0, total = 0;
  size_t complete = 0;
  for (const auto& [digest, b] : blobs_) {
    done += b.done;
    total += b.total;
    complete += b.reported ? 1 : 0;
  }
  const int width = 30;
  int filled = total > 0 ? static_cast<int>(static_cast<double>(done) / total * width) : 0;
  filled = std::clamp(filled, 0, width);
  return fmt::format("[{}{}] {:3d}% {} / {}  {}/{} blobs", std::string(filled, '#'),
                     std::string(width - filled, '.'),
                     total > 0 ? static_cast<int>(done * 100 / total) : 0, Mb(done), Mb(total),
                     complete, blobs_.size());
}

void PullProgressView::Draw() {
  out_ << "\r\033[K" << Bar();
  out_.flush();
  drawn_ = true;
}

void PullProgressView::Finish() {
  if (terminal_ && drawn_) {
    out_ << "\r\033[K";
    out_.flush();
  }
}

}  // namespace berth::cli
