// PEP 440 version order, as Python's `packaging` (packaging.version.Version) computes it:
// [N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local], with the spec's normalizations (case, "v",
// "alpha"/"beta"/"c"/"pre"/"preview", "rev"/"r", "-N" as post, separators "-", "_", ".",
// implicit 0). The key: epoch, release without trailing zeros, pre (a dev release without
// pre or post sorts before any pre-release), post, dev, local (numbers after strings).
#include <fmt/core.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "security/scan/version.h"

namespace berth::security::scan {
namespace {

constexpr int64_t kMinusInf = INT64_MIN;
constexpr int64_t kPlusInf = INT64_MAX;

struct Pep440 {
  int64_t epoch = 0;
  std::vector<int64_t> release;
  int pre_kind = 0;  // 0 none, 1 a, 2 b, 3 rc
  int64_t pre = 0;
  bool has_post = false;
  int64_t post = 0;
  bool has_dev = false;
  int64_t dev = 0;
  std::vector<std::string> local;  // lower case
};

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return c >= 'a' && c <= 'z'; }
bool IsSep(char c) { return c == '.' || c == '-' || c == '_'; }

class Parser {
 public:
  explicit Parser(std::string s) : s_(std::move(s)) {}

  std::optional<std::string> Run(Pep440* v) {
    Skip(" \t\n\r\f\v");
    if (Peek() == 'v') ++i_;
    // Epoch or the first release number.
    int64_t n = 0;
    if (!Number(&n)) return "does not start with a number";
    if (Peek() == '!') {
      ++i_;
      v->epoch = n;
      if (!Number(&n)) return "no release number after the epoch";
    }
    v->release.push_back(n);
    while (Peek() == '.' && IsDigit(At(i_ + 1))) {
      ++i_;
      Number(&n);
      v->release.push_back(n);
    }
    Pre(v);
    Post(v);
    Dev(v);
    if (Peek() == '+') {
      ++i_;
      std::string seg;
      size_t start = i_;
      while (i_ < s_.size() && (IsDigit(s_[i_]) || IsAlpha(s_[i_]) || IsSep(s_[i_]))) {
        if (IsSep(s_[i_])) {
          if (seg.empty()) return "empty local version segment";
          v->local.push_back(seg);
          seg.clear();
        } else {
          seg += s_[i_];
        }
        ++i_;
      }
      if (seg.empty() || i_ == start) return "empty local version segment";
      v->local.push_back(seg);
    }
    Skip(" \t\n\r\f\v");
    if (i_ != s_.size()) return fmt::format("unexpected \"{}\"", s_.substr(i_, 20));
    return std::nullopt;
  }

 private:
  char At(size_t k) const { return k < s_.size() ? s_[k] : '\0'; }
  char Peek() const { return At(i_); }
  void Skip(std::string_view chars) {
    while (i_ < s_.size() && chars.find(s_[i_]) != std::string_view::npos) ++i_;
  }
  bool Number(int64_t* out) {
    if (!IsDigit(Peek())) return false;
    int64_t n = 0;
    while (IsDigit(Peek())) {
      if (n < (INT64_MAX - 9) / 10) n = n * 10 + (s_[i_] - '0');
      ++i_;
    }
    *out = n;
    return true;
  }
  // Matches one of `words` at i_ (after an optional separator); returns its index.
  int Word(std::initializer_list<std::string_view> words, size_t* end) const {
    size_t k = i_;
    if (IsSep(At(k))) ++k;
    int idx = 0;
    for (auto w : words) {
      if (std::string_view(s_).substr(k, w.size()) == w) {
        *end = k + w.size();
        return idx;
      }
      ++idx;
    }
    return -1;
  }
  // An optional separator, then an optional number (implicit 0); the separator is taken
  // even without a number, as packaging's pattern does ("1.0a-" is 1.0a0).
  int64_t ImplicitNumber() {
    if (IsSep(Peek())) ++i_;
    int64_t n = 0;
    Number(&n);
    return n;
  }
  void Pre(Pep440* v) {
    size_t end = 0;
    // Longest spellings first.
    int w = Word({"alpha", "beta", "preview", "pre", "rc", "a", "b", "c"}, &end);
    if (w < 0) return;
    static constexpr int kKind[] = {1, 2, 3, 3, 3, 1, 2, 3};
    v->pre_kind = kKind[w];
    i_ = end;
    v->pre = ImplicitNumber();
  }
  void Post(Pep440* v) {
    if (Peek() == '-' && IsDigit(At(i_ + 1))) {  // "1.0-1"
      ++i_;
      v->has_post = true;
      Number(&v->post);
      return;
    }
    size_t end = 0;
    if (Word({"post", "rev", "r"}, &end) < 0) return;
    i_ = end;
    v->has_post = true;
    v->post = ImplicitNumber();
  }
  void Dev(Pep440* v) {
    size_t end = 0;
    if (Word({"dev"}, &end) < 0) return;
    i_ = end;
    v->has_dev = true;
    v->dev = ImplicitNumber();
  }

  std::string s_;
  size_t i_ = 0;
};

std::optional<std::string> Parse(std::string_view text, Pep440* v) {
  std::string s(text);
  for (char& c : s) c = Lower(c);
  return Parser(std::move(s)).Run(v);
}

int Cmp(int64_t a, int64_t b) { return a < b ? -1 : a > b ? 1 : 0; }

int CompareLocal(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  auto numeric = [](const std::string& s) {
    for (char c : s)
      if (!IsDigit(c)) return false;
    return true;
  };
  for (size_t k = 0; k < a.size() && k < b.size(); ++k) {
    bool an = numeric(a[k]), bn = numeric(b[k]);
    if (an != bn) return an ? 1 : -1;  // numbers after strings
    if (an) {
      std::string_view x = a[k], y = b[k];
      while (x.size() > 1 && x[0] == '0') x.remove_prefix(1);
      while (y.size() > 1 && y[0] == '0') y.remove_prefix(1);
      if (x.size() != y.size()) return x.size() < y.size() ? -1 : 1;
      if (int c = x.compare(y); c != 0) return c < 0 ? -1 : 1;
    } else if (int c = a[k].compare(b[k]); c != 0) {
      return c < 0 ? -1 : 1;
    }
  }
  return Cmp(static_cast<int64_t>(a.size()), static_cast<int64_t>(b.size()));
}

int Compare(const Pep440& a, const Pep440& b) {
  if (int c = Cmp(a.epoch, b.epoch)) return c;
  auto trimmed = [](const std::vector<int64_t>& r) {
    size_t n = r.size();
    while (n > 0 && r[n - 1] == 0) --n;
    return n;
  };
  size_t na = trimmed(a.release), nb = trimmed(b.release);
  for (size_t k = 0; k < na || k < nb; ++k) {
    if (k >= na) return -1;
    if (k >= nb) return 1;
    if (int c = Cmp(a.release[k], b.release[k])) return c;
  }
  // pre: a dev release without pre or post first; no pre last.
  auto pre_key = [](const Pep440& v) -> std::pair<int64_t, int64_t> {
    if (v.pre_kind == 0 && !v.has_post && v.has_dev) return {kMinusInf, 0};
    if (v.pre_kind == 0) return {kPlusInf, 0};
    return {v.pre_kind, v.pre};
  };
  auto pa = pre_key(a), pb = pre_key(b);
  if (int c = Cmp(pa.first, pb.first)) return c;
  if (int c = Cmp(pa.second, pb.second)) return c;
  if (int c = Cmp(a.has_post ? a.post : kMinusInf, b.has_post ? b.post : kMinusInf)) return c;
  if (int c = Cmp(a.has_dev ? a.dev : kPlusInf, b.has_dev ? b.dev : kPlusInf)) return c;
  if (a.local.empty() != b.local.empty()) return a.local.empty() ? -1 : 1;
  return CompareLocal(a.local, b.local);
}

}  // namespace

int ComparePep440(std::string_view a, std::string_view b) {
  Pep440 x, y;
  bool xa = !Parse(a, &x), ya = !Parse(b, &y);
  if (!xa || !ya) {
    if (xa != ya) return xa ? -1 : 1;
    int c = a.compare(b);
    return c < 0 ? -1 : c > 0;
  }
  return Compare(x, y);
}

Result<void> ValidatePep440(std::string_view v) {
  Pep440 p;
  if (auto why = Parse(v, &p)) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("version \"{}\" is not a PEP 440 version: {}", v.substr(0, 80), *why));
  }
  return {};
}

}  // namespace berth::security::scan
