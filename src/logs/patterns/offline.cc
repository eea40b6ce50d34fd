#include "logs/patterns/offline.h"

#include <string>
#include <vector>

namespace berth::logs::patterns {
namespace {

void WriteCsvField(std::ostream& out, std::string_view s) {
  if (s.find_first_of(",\"\n\r") == std::string_view::npos) {
    out << s;
    return;
  }
  out << '"';
  for (char c : s) {
    if (c == '"') out << '"';
    out << c;
  }
  out << '"';
}

}  // namespace

size_t MineToCsv(std::istream& in, std::ostream& out, const MinerOptions& options) {
  TemplateMiner miner(options);
  std::vector<uint32_t> signatures;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    miner.Add(line, static_cast<int64_t>(signatures.size()));
    signatures.push_back(miner.last_signature());
  }
  out << "LineId,ClusterId,EventTemplate\n";
  std::unordered_map<uint64_t, std::string> templates;
  for (const auto& p : miner.Patterns()) templates[p.id] = p.tmpl;
  for (size_t i = 0; i < signatures.size(); ++i) {
    uint64_t c = miner.ClusterOfSignature(signatures[i]);
    out << (i + 1) << ",C" << c << ',';
    WriteCsvField(out, templates[c]);
    out << '\n';
  }
  return signatures.size();
}

}  // namespace berth::logs::patterns
