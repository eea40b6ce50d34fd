// `berth run|ps|logs|exec|stop|start|rm|inspect` and `berth image
// import|pull|build|ls|rm|inspect`, over the agent endpoints (api/container_endpoints.h).
#pragma once

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "cli/cli.h"

namespace berth::cli {

// How `berth image pull` shows its blobs coming in. On a terminal: one redrawn bar for all
// blobs (bytes, percent, blobs done) and a line per finished blob. Otherwise plain lines,
// two per blob: "pulling <digest> (<size>)" when it starts, "pulled  <digest>" when done.
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

void AddContainerCommands(CLI::App& app, Context& ctx);
void AddImageCommands(CLI::App& app, Context& ctx);

}  // namespace berth::cli
