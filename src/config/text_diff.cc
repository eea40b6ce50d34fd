#include "config/text_diff.h"

#include <fmt/core.h>

#include <algorithm>
#include <unordered_map>
#include <vector>

namespace berth::config {
namespace {

struct Lines {
  std::vector<std::string_view> text;
  std::vector<uint32_t> id;      // equal lines share an id
  bool missing_newline = false;  // the last line has no '\n'
};

Lines Split(std::string_view s, std::unordered_map<std::string_view, uint32_t>& ids) {
  Lines out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t end = s.find('\n', pos);
    if (end == std::string_view::npos) {
      out.text.push_back(s.substr(pos));
      out.missing_newline = true;
      break;
    }
    out.text.push_back(s.substr(pos, end - pos));
    pos = end + 1;
  }
  out.id.reserve(out.text.size());
  for (size_t i = 0; i < out.text.size(); ++i) {
    // The last line without its newline differs from the same text with one.
    std::string_view key = out.text[i];
    uint32_t id = ids.emplace(key, static_cast<uint32_t>(ids.size() * 2)).first->second;
    if (out.missing_newline && i + 1 == out.text.size()) id |= 1;
    out.id.push_back(id);
  }
  return out;
}

enum class Op : char { kKeep = ' ', kDel = '-', kAdd = '+' };
struct Edit {
  Op op;
  size_t a;  // index in a (kKeep, kDel)
  size_t b;  // index in b (kKeep, kAdd)
};

// Myers' greedy forward search with the trace kept for the path back. nullopt-equivalent
// (false) when the distance passes `max_d`.
bool Myers(const std::vector<uint32_t>& a, size_t a0, size_t n, const std::vector<uint32_t>& b,
           size_t b0, size_t m, int64_t max_d, std::vector<Edit>& out) {
  const int64_t N = static_cast<int64_t>(n), M = static_cast<int64_t>(m);
  const int64_t max = std::min<int64_t>(N + M, max_d);
  const int64_t offset = max + 1;
  std::vector<int64_t> v(2 * max + 3, 0);
  // trace[d]: v over k in [-d, d] before step d (what step d-1 left), 32 bits a cell:
  // about max_d² cells at worst.
  std::vector<std::vector<int32_t>> trace;
  int64_t found = -1;
  for (int64_t d = 0; d <= max; ++d) {
    trace.emplace_back(v.begin() + offset - d, v.begin() + offset + d + 1);
    for (int64_t k = -d; k <= d; k += 2) {
      int64_t x;
      if (k == -d || (k != d && v[offset + k - 1] < v[offset + k + 1])) {
        x = v[offset + k + 1];
      } else {
        x = v[offset + k - 1] + 1;
      }
      int64_t y = x - k;
      while (x < N && y < M && a[a0 + x] == b[b0 + y]) {
        ++x;
        ++y;
      }
      v[offset + k] = x;
      if (x >= N && y >= M) {
        found = d;
        break;
      }
    }
    if (found >= 0) break;
  }
  if (found < 0) return false;
  std::vector<Edit> rev;
  int64_t x = N, y = M;
  for (int64_t d = found; d > 0; --d) {
    const auto& pv = trace[d];  // index k + d
    auto at = [&](int64_t k) -> int64_t { return pv[k + d]; };
    int64_t k = x - y;
    int64_t pk = (k == -d || (k != d && at(k - 1) < at(k + 1))) ? k + 1 : k - 1;
    int64_t px = at(pk), py = px - pk;
    while (x > px && y > py) {
      --x;
      --y;
      rev.push_back({Op::kKeep, a0 + x, b0 + y});
    }
    if (x == px) {
      --y;
      rev.push_back({Op::kAdd, a0 + x, b0 + y});
    } else {
      --x;
      rev.push_back({Op::kDel, a0 + x, b0 + y});
    }
  }
  while (x > 0 && y > 0) {
    --x;
    --y;
    rev.push_back({Op::kKeep, a0 + x, b0 + y});
  }
  out.insert(out.end(), rev.rbegin(), rev.rend());
  return true;
}

std::string Range(size_t start, size_t count) {
  // diff -u: "l,n" with l the first line (1-based), or the line before when n is 0.
  if (count == 1) return fmt::format("{}", start + 1);
  return fmt::format("{},{}", count == 0 ? start : start + 1, count);
}

void AppendLine(std::string& out, char op, std::string_view text, bool missing_newline) {
  out.push_back(op);
  out.append(text);
  out.push_back('\n');
  if (missing_newline) out.append("\\ No newline at end of file\n");
}

}  // namespace

TextDiff DiffLines(std::string_view a_text, std::string_view b_text, std::string_view a_name,
                   std::string_view b_name, const DiffOptions& options) {
  TextDiff result;
  if (a_text == b_text) return result;
  std::unordered_map<std::string_view, uint32_t> ids;
  Lines a = Split(a_text, ids), b = Split(b_text, ids);
  const size_t n = a.id.size(), m = b.id.size();
  size_t head = 0;
  while (head < n && head < m && a.id[head] == b.id[head]) ++head;
  size_t tail = 0;
  while (tail < n - head && tail < m - head && a.id[n - 1 - tail] == b.id[m - 1 - tail]) ++tail;

  std::vector<Edit> edits;
  for (size_t i = 0; i < head; ++i) edits.push_back({Op::kKeep, i, i});
  const size_t an = n - head - tail, bm = m - head - tail;
  if (!Myers(a.id, head, an, b.id, head, bm, options.max_edits, edits)) {
    for (size_t i = 0; i < an; ++i) edits.push_back({Op::kDel, head + i, head});
    for (size_t j = 0; j < bm; ++j) edits.push_back({Op::kAdd, head + an, head + j});
  }
  for (size_t i = 0; i < tail; ++i) edits.push_back({Op::kKeep, n - tail + i, m - tail + i});

  // Hunks: runs of changes with `context` kept lines around, merged when close.
  std::string& out = result.unified;
  out = fmt::format("--- {}\n+++ {}\n", a_name, b_name);
  const size_t ctx = static_cast<size_t>(std::max(options.context, 0));
  size_t i = 0;
  while (i < edits.size()) {
    while (i < edits.size() && edits[i].op == Op::kKeep) ++i;
    if (i == edits.size()) break;
    size_t start = i >= ctx ? i - ctx : 0;
    size_t end = i;  // one past the last change of the hunk
    while (true) {
      while (end < edits.size() && edits[end].op != Op::kKeep) ++end;
      size_t next = end;
      while (next < edits.size() && edits[next].op == Op::kKeep) ++next;
      if (next < edits.size() && next - end <= 2 * ctx) {
        end = next;
        continue;
      }
      break;
    }
    size_t stop = std::min(edits.size(), end + ctx);
    size_t a_start = edits[start].a, b_start = edits[start].b, a_count = 0, b_count = 0;
    for (size_t k = start; k < stop; ++k) {
      if (edits[k].op != Op::kAdd) ++a_count;
      if (edits[k].op != Op::kDel) ++b_count;
    }
    out += fmt::format("@@ -{} +{} @@\n", Range(a_start, a_count), Range(b_start, b_count));
    for (size_t k = start; k < stop; ++k) {
      const Edit& e = edits[k];
      switch (e.op) {
        case Op::kKeep:
          AppendLine(out, ' ', a.text[e.a], a.missing_newline && e.a + 1 == n);
          break;
        case Op::kDel:
          ++result.removed;
          AppendLine(out, '-', a.text[e.a], a.missing_newline && e.a + 1 == n);
          break;
        case Op::kAdd:
          ++result.added;
          AppendLine(out, '+', b.text[e.b], b.missing_newline && e.b + 1 == m);
          break;
      }
    }
    i = stop;
  }
  return result;
}

}  // namespace berth::config
