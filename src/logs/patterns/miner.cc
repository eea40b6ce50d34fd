#include "logs/patterns/miner.h"

#include <algorithm>
#include <array>
#include <set>

namespace berth::logs::patterns {
namespace {

constexpr std::string_view kWild = "<*>";

bool HasDigit(std::string_view t) {
  return std::any_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string Lower(std::string_view t) {
  std::string out(t);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view t, std::string_view chars) {
  size_t b = t.find_first_not_of(chars);
  if (b == std::string_view::npos) return {};
  size_t e = t.find_last_not_of(chars);
  return t.substr(b, e - b + 1);
}

bool IsCalendarWord(std::string_view t) {
  static const std::set<std::string> kWords = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                               "aug", "sep", "oct", "nov", "dec", "mon", "tue",
                                               "wed", "thu", "fri", "sat", "sun"};
  return kWords.contains(Lower(Trim(t, ",.:;")));
}

bool IsUnit(std::string_view t) {
  static const std::set<std::string> kUnits = {"b",  "kb", "mb", "gb", "tb",  "kib",  "mib",  "gib",
                                               "ms", "s",  "us", "ns", "sec", "secs", "bytes"};
  return kUnits.contains(Lower(Trim(t, ",.;)")));
}

// White space splits tokens, except inside [brackets].
std::vector<std::string_view> Split(std::string_view line) {
  std::vector<std::string_view> out;
  size_t start = std::string_view::npos;
  int depth = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if ((c == ' ' || c == '\t' || c == '\r' || c == '\n') && depth == 0) {
      if (start != std::string_view::npos) out.push_back(line.substr(start, i - start));
      start = std::string_view::npos;
      continue;
    }
    if (start == std::string_view::npos) start = i;
    if (c == '[') ++depth;
    if (c == ']' && depth > 0) --depth;
  }
  if (start != std::string_view::npos) out.push_back(line.substr(start));
  return out;
}

}  // namespace

std::vector<std::string> TemplateMiner::Signature(std::string_view line) {
  auto raw = Split(line);
  std::vector<std::string> out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    std::string_view t = raw[i];
    bool bracketed = t.size() > 2 && t.front() == '[' && t.back() == ']';
    bool variable = HasDigit(t) || IsCalendarWord(t) || bracketed ||
                    (i > 0 && out.back() == kWild && IsUnit(t));
    out.emplace_back(variable ? kWild : t);
  }
  return out;
}

uint32_t TemplateMiner::Find(uint32_t g) {
  while (groups_[g].parent != g) {
    groups_[g].parent = groups_[groups_[g].parent].parent;
    g = groups_[g].parent;
  }
  return g;
}

void TemplateMiner::Union(uint32_t a, uint32_t b) {
  a = Find(a);
  b = Find(b);
  if (a == b) return;
  // The older cluster keeps its id.
  if (groups_[b].id < groups_[a].id) std::swap(a, b);
  Group& ga = groups_[a];
  Group& gb = groups_[b];
  gb.parent = a;
  for (size_t i = 0; i < ga.tmpl.size(); ++i) {
    if (ga.tmpl[i] != gb.tmpl[i]) ga.tmpl[i] = kWild;
  }
  ga.count += gb.count;
  ga.first_seen = std::min(ga.first_seen, gb.first_seen);
  ga.last_seen = std::max(ga.last_seen, gb.last_seen);
}

void TemplateMiner::MergeLength(size_t n) {
  bool changed = true;
  while (changed) {
    changed = false;
    std::vector<uint32_t> roots;
    for (uint32_t s : by_length_[n]) {
      if (Find(s) == s) roots.push_back(s);
    }
    for (size_t p = 0; p < n && !changed; ++p) {
      // Roots whose templates are equal but at p.
      std::map<std::vector<std::string_view>, std::vector<uint32_t>> buckets;
      for (uint32_t r : roots) {
        std::vector<std::string_view> key(groups_[r].tmpl.begin(), groups_[r].tmpl.end());
        key[p] = kWild;
        buckets[std::move(key)].push_back(r);
      }
      for (const auto& [key, members] : buckets) {
        if (members.size() < 2) continue;
        bool has_constant =
            std::any_of(key.begin(), key.end(), [](std::string_view t) { return t != kWild; });
        if (!has_constant) continue;
        std::set<std::string_view> values;
        for (uint32_t r : members) values.insert(groups_[r].tmpl[p]);
        if (values.size() >= options_.min_values ||
            (values.size() >= 2 && values.contains(kWild))) {
          for (size_t i = 1; i < members.size(); ++i) Union(members[0], members[i]);
          changed = true;
        }
      }
    }
  }
}

TemplateMiner::Added TemplateMiner::Add(std::string_view line, int64_t ts) {
  std::vector<std::string> sig = Signature(line);
  std::string key;
  for (const auto& t : sig) {
    key += t;
    key += '\x1f';
  }
  Added added;
  auto it = by_signature_.find(key);
  if (it == by_signature_.end()) {
    if (groups_.size() >= options_.max_signatures) {
      // A catch-all, so memory stays bounded on a stream with no structure.
      sig = {std::string(kWild)};
      key = std::string(kWild) + '\x1f';
      it = by_signature_.find(key);
    }
  }
  uint32_t g;
  if (it != by_signature_.end()) {
    g = it->second;
  } else {
    g = static_cast<uint32_t>(groups_.size());
    Group group;
    group.parent = g;
    group.tmpl = sig;
    group.id = next_id_++;
    group.first_seen = ts;
    group.last_seen = ts;
    groups_.push_back(std::move(group));
    by_signature_.emplace(std::move(key), g);
    by_length_[sig.size()].push_back(g);
    MergeLength(sig.size());
    added.new_cluster = Find(g) == g;
  }
  last_signature_ = g;
  uint32_t root = Find(g);
  groups_[root].count += 1;
  groups_[root].last_seen = std::max(groups_[root].last_seen, ts);
  added.cluster = groups_[root].id;
  return added;
}

uint64_t TemplateMiner::ClusterOfSignature(uint32_t signature) {
  return groups_[Find(signature)].id;
}

std::string TemplateMiner::TemplateOf(uint64_t cluster) {
  for (uint32_t g = 0; g < groups_.size(); ++g) {
    if (Find(g) == g && groups_[g].id == cluster) {
      std::string out;
      for (const auto& t : groups_[g].tmpl) {
        if (!out.empty()) out += ' ';
        out += t;
      }
      return out;
    }
  }
  return {};
}

std::vector<Pattern> TemplateMiner::Patterns() {
  std::vector<Pattern> out;
  for (uint32_t g = 0; g < groups_.size(); ++g) {
    if (Find(g) != g) continue;
    Pattern p;
    p.id = groups_[g].id;
    for (const auto& t : groups_[g].tmpl) {
      if (!p.tmpl.empty()) p.tmpl += ' ';
      p.tmpl += t;
    }
    p.count = groups_[g].count;
    p.first_seen = groups_[g].first_seen;
    p.last_seen = groups_[g].last_seen;
    out.push_back(std::move(p));
  }
  std::sort(out.begin(), out.end(), [](const Pattern& a, const Pattern& b) {
    return a.count != b.count ? a.count > b.count : a.id < b.id;
  });
  return out;
}

}  // namespace berth::logs::patterns
