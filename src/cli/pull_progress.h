// How `berth image pull` shows its blobs coming in (cmd_image.cc). On a terminal: one redrawn
// bar for all blobs (bytes, percent, blobs done) and a line per finished blob. Otherwise plain
// lines, two per blob: "pulling <digest> (<size>)" when it starts, "pulled  <digest>" when done.
// Thread-safety: single-threaded.
#pragma once

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace berth::cli {

class PullProgressView {
 public:
  PullProgressView(std::ostream& out, bool terminal);
  void Update(const std::string& digest, uint64_t done, uint64_t total);
  // Clears the bar (terminal).
  void Finish();
  // The bar as drawn: "[####....]  45% 1.2 MB / 2.7 MB  1/3 blobs".
  std::string Bar() const;

 private:
  struct Blob {
    uint64_t done = 0, total = 0;
    bool reported = false;
  };
  void Draw();
  std::ostream& out_;
  const bool terminal_;
  bool drawn_ = false;
  std::map<std::string, Blob> blobs_;
  std::vector<std::string> order_;
};

// "sha256:abcdef..." -> the first `n` hex digits.
std::string ShortId(const std::string& id, size_t n = 12);

}  // namespace berth::cli
