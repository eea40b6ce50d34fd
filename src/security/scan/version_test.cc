// Each version scheme against its reference: dpkg against `dpkg --compare-versions`, RPM
// against rpm's own rpm.vercmp, PEP 440 against Python's `packaging` — thousands of generated
// pairs each, close versions on purpose — and apk and semver against the orderings their
// projects publish (apk-tools' test data, semver.org §11).
#include "security/scan/version.h"

#include <fmt/core.h>
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "harness/harness.h"

namespace berth::security::scan {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

char Sign(int c) { return c < 0 ? '<' : c > 0 ? '>' : '='; }

// Runs `script` (sh) with pairs.txt (one "a b" per line) in its directory; one answer a line.
std::vector<std::string> Reference(const Pairs& pairs, const std::string& script) {
  testing::TempDir dir("berth-version-ref");
  {
    std::ofstream out(dir.Sub("pairs.txt"));
    for (const auto& [a, b] : pairs) out << a << ' ' << b << '\n';
  }
  std::ofstream(dir.Sub("ref.sh")) << "cd '" << dir.path() << "'\n" << script << "\n";
  testing::ProcessOptions o;
  o.log_path = dir.Sub("ref.log");
  auto r = testing::RunTool("reference", {"/bin/sh", dir.Sub("ref.sh")}, std::move(o),
                            std::chrono::minutes(5));
  EXPECT_EQ(r.code, 0) << r.text;
  std::vector<std::string> lines;
  std::istringstream in(r.text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

template <typename Gen>
Pairs MakePairs(size_t n, Gen gen) {
  std::mt19937 rng(20261207);
  Pairs out;
  while (out.size() < n) {
    std::string a = gen(rng);
    // Half the time a close relative of a: the interesting comparisons.
    std::string b = gen(rng);
    if (rng() % 2) {
      b = a;
      std::string extra = gen(rng);
      size_t cut = rng() % (b.size() + 1);
      b = b.substr(0, cut) + extra.substr(0, rng() % (extra.size() + 1));
      if (b.empty()) b = a;
    }
    out.emplace_back(std::move(a), std::move(b));
  }
  return out;
}

std::string Pick(std::mt19937& rng, std::initializer_list<const char*> options) {
  return *(options.begin() + rng() % options.size());
}

// ---- dpkg -----------------------------------------------------------------------------

std::string DpkgVersion(std::mt19937& rng) {
  std::string v;
  if (rng() % 4 == 0) v += std::to_string(rng() % 3) + ":";
  v += std::to_string(rng() % 12);
  int parts = 1 + static_cast<int>(rng() % 5);
  for (int i = 0; i < parts; ++i) {
    v += Pick(rng, {".", ".", "+", "~", "", "."});
    v += Pick(rng, {"0", "1", "2", "10", "9", "00", "a", "b", "rc", "dfsg", "beta", "z", "01"});
  }
  if (rng() % 3 != 0) {
    v += "-";
    v += Pick(rng, {"1", "2", "0", "10", "1+deb12u1", "1~deb12u1", "1+deb11u2", "1+b1", "3ubuntu1",
                    "1.1", "1~bpo12+1", "0ubuntu0.22.04.1", "1+deb12u10"});
  }
  return v;
}

TEST(DpkgVersion, OrdersThousandsOfPairsAsDpkgCompareVersionsDoes) {
  Pairs pairs = MakePairs(3000, DpkgVersion);
  // Version strings the generator cuts in half may not be valid dpkg versions: keep the
  // valid ones (dpkg --compare-versions refuses the others).
  Pairs valid;
  for (auto& p : pairs) {
    if (ValidateDpkg(p.first) && ValidateDpkg(p.second)) valid.push_back(p);
  }
  ASSERT_GT(valid.size(), 2000u);
  auto want = Reference(valid,
                        "while read -r a b; do if dpkg --compare-versions \"$a\" lt \"$b\"; then "
                        "echo '<'; elif dpkg --compare-versions \"$a\" eq \"$b\"; then echo '='; "
                        "else echo '>'; fi; done < pairs.txt");
  ASSERT_EQ(want.size(), valid.size());
  int wrong = 0;
  for (size_t i = 0; i < valid.size(); ++i) {
    char got = Sign(CompareDpkg(valid[i].first, valid[i].second));
    if (std::string(1, got) != want[i] && ++wrong <= 20) {
      ADD_FAILURE() << valid[i].first << " vs " << valid[i].second << ": dpkg says " << want[i]
                    << ", we say " << got;
    }
  }
  EXPECT_EQ(wrong, 0);
}

TEST(DpkgVersion, TildeEpochsAndDebianRevisions) {
  EXPECT_LT(CompareDpkg("1.0~rc1", "1.0"), 0);
  EXPECT_LT(CompareDpkg("1.0~~", "1.0~"), 0);
  EXPECT_GT(CompareDpkg("1:0.1", "9.9"), 0);
  EXPECT_LT(CompareDpkg("2.54.7+dfsg-1~deb12u1", "2.54.7+dfsg-1"), 0);
  EXPECT_LT(CompareDpkg("2.54.5+dfsg-1", "2.54.7+dfsg-1~deb12u1"), 0);
  EXPECT_LT(CompareDpkg("1:9.18.19-1~deb12u1", "1:9.18.24-1"), 0);
  EXPECT_EQ(CompareDpkg("1.0", "1.0-0"), 0);
  EXPECT_EQ(CompareDpkg("0:1.0", "1.0"), 0);
  EXPECT_LT(CompareDpkg("1.0+deb12u9", "1.0+deb12u10"), 0);
  // A NUL ends the version, as for dpkg's C strings (found by scan_inputs_fuzz: it looped).
  EXPECT_EQ(CompareDpkg(std::string_view("1.0\0x", 5), std::string_view("1.0\0x", 5)), 0);
  EXPECT_EQ(CompareDpkg(std::string_view("1.0\0x", 5), "1.0"), 0);
  EXPECT_FALSE(ValidateDpkg("").has_value());
  EXPECT_FALSE(ValidateDpkg("a1.0").has_value());
  EXPECT_FALSE(ValidateDpkg("1.0-").has_value());
  EXPECT_FALSE(ValidateDpkg("x:1.0").has_value());
  EXPECT_FALSE(ValidateDpkg("1.0 beta").has_value());
}

// ---- apk ------------------------------------------------------------------------------

TEST(ApkVersion, OrdersAsApkToolsTestDataSays) {
  // Pairs from apk-tools' test/version.data (each checked both ways).
  const char* kPairs[][3] = {
      {"2.34", ">", "0.1.0_alpha"},
      {"23_foo", ">", "4_beta"},
      {"1.0", "<", "1.0bc"},
      {"0.1.0_alpha2", ">", "0.1.0_alpha"},
      {"1.1", ">", "1.1_alpha1"},
      {"1.2.1", ">", "1.2"},
      {"3.10.18-r1", ">", "2.3.0b-r1"},
      {"0.12.3", ">", "0.12"},
      {"1.06-r6", "<", "006"},
      {"1.2.2-r1", ">", "1.2.2"},
      {"3.9.8-r5", ">", "2.01.01_alpha10"},
      {"1.0", ">", "0.99.3.20040818"},
      {"4.2.52_p2-r1", "<", "4.2.52_p4-r2"},
      {"20060720", ">", "3.0.20060720"},
      {"2.5.1-r8", "<", "2.5.1a-r1"},
      {"3.0.0-r2", "<", "021109-r3"},
      {"0.10.0", "<", "0.10.1_rc1"},
      {"1.07-r1", "<", "1.07.5"},
      {"1.6d", ">", "1.2.07.8"},
      {"1.2.07.8", "<", "1.2.12.04"},
      {"0.20070118", "<", "0.20070207_rc1"},
      {"0.9.8c-r1", "<", "0.9.8d"},
      {"1.8.5", "<", "1.8.5_p2"},
      {"2.9.11_pre20051101-r3", ">", "2.9.11_pre20051101"},
      {"1.6.8_p12-r1", ">", "1.6.8_p9-r2"},
      {"0.9.28.1", "<", "087-r1"},
      {"7.0.17", "<", "7.0.174"},
      {"1.3_pre1-r1", "<", "1.3.2"},
      {"1.0_p10-r0", ">", "1.0_p9-r0"},
      {"0.1.0_alpha_pre2", "<", "0.1.0_alpha"},
      {"1.0.0_pre20191002222144-r0", "<", "1.0.0_pre20210530193627-r0"},
      {"1.36.1-r6", "<", "1.36.1-r7"},
      {"1.36.1-r7", "=", "1.36.1-r7"},
  };
  for (const auto& p : kPairs) {
    EXPECT_EQ(Sign(CompareApk(p[0], p[2])), p[1][0]) << p[0] << " " << p[1] << " " << p[2];
    EXPECT_EQ(Sign(-CompareApk(p[2], p[0])), p[1][0]) << p[2] << " vs " << p[0];
  }
  EXPECT_TRUE(ValidateApk("1.36.1-r7").has_value());
  EXPECT_FALSE(ValidateApk("r7").has_value());
  EXPECT_FALSE(ValidateApk("1.0_bogus").has_value());
}

// ---- RPM ------------------------------------------------------------------------------

std::string RpmVersion(std::mt19937& rng) {
  std::string v;
  if (rng() % 5 == 0) v += std::to_string(rng() % 3) + ":";
  v += std::to_string(rng() % 10);
  int parts = 1 + static_cast<int>(rng() % 5);
  for (int i = 0; i < parts; ++i) {
    v += Pick(rng, {".", ".", "_", "~", "^", "", "+"});
    v += Pick(rng, {"0", "1", "2", "10", "007", "a", "b", "rc1", "git", "el9", "fc38", "Z"});
  }
  if (rng() % 2) v += "-" + Pick(rng, {"1", "2", "1.el9", "3.fc38", "0.1.rc1", "1~beta"});
  return v;
}

TEST(RpmVersion, OrdersThousandsOfPairsAsRpmDoes) {
  Pairs pairs = MakePairs(2000, RpmVersion);
  auto want = Reference(pairs,
                        "rpm --eval '%{lua: for line in io.lines(\"pairs.txt\") do "
                        "local a, b = line:match(\"^(%S+) (%S+)$\"); "
                        "io.write(rpm.vercmp(a, b), \"\\n\") end}'");
  ASSERT_EQ(want.size(), pairs.size());
  int wrong = 0;
  for (size_t i = 0; i < pairs.size(); ++i) {
    int ref = std::stoi(want[i]);
    char got = Sign(CompareRpm(pairs[i].first, pairs[i].second));
    if (got != Sign(ref) && ++wrong <= 20) {
      ADD_FAILURE() << pairs[i].first << " vs " << pairs[i].second << ": rpm says " << ref
                    << ", we say " << got;
    }
  }
  EXPECT_EQ(wrong, 0);
  EXPECT_LT(CompareRpm("1.0~rc1", "1.0"), 0);
  EXPECT_GT(CompareRpm("1.0^git1", "1.0"), 0);
  EXPECT_LT(CompareRpm("1.0^git1", "1.0.1"), 0);
  EXPECT_GT(CompareRpm("1:1.0-1", "2.0-1"), 0);
}

// ---- semver ---------------------------------------------------------------------------

TEST(SemverVersion, FollowsThePrecedenceOfTheSpecification) {
  // semver.org §11's own example, in order.
  const char* kOrder[] = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
                          "1.0.0-beta",  "1.0.0-beta.2",  "1.0.0-beta.11",
                          "1.0.0-rc.1",  "1.0.0",         "2.0.0",
                          "2.1.0",       "2.1.1",         "10.0.0"};
  for (size_t i = 0; i < std::size(kOrder); ++i) {
    for (size_t j = 0; j < std::size(kOrder); ++j) {
      EXPECT_EQ(Sign(CompareSemver(kOrder[i], kOrder[j])),
                Sign(static_cast<int>(i) - static_cast<int>(j)))
          << kOrder[i] << " vs " << kOrder[j];
    }
  }
  EXPECT_EQ(CompareSemver("1.0.0+build.1", "1.0.0+build.2"), 0);  // build metadata ignored
  EXPECT_EQ(CompareSemver("v1.2.3", "1.2.3"), 0);                 // Go's "v"
  EXPECT_FALSE(ValidateSemver("1.2").has_value());
  EXPECT_FALSE(ValidateSemver("01.2.3").has_value());
  EXPECT_FALSE(ValidateSemver("1.2.3-01").has_value());
  EXPECT_FALSE(ValidateSemver("1.2.3-").has_value());
  EXPECT_TRUE(ValidateSemver("1.2.3-rc.1+sha.5114f85").has_value());
}

// ---- PEP 440 --------------------------------------------------------------------------

std::string Pep440Version(std::mt19937& rng) {
  std::string v;
  if (rng() % 8 == 0) v += std::to_string(rng() % 3) + "!";
  if (rng() % 10 == 0) v = "v" + v;
  v += std::to_string(rng() % 4);
  int parts = static_cast<int>(rng() % 4);
  for (int i = 0; i < parts; ++i) v += "." + Pick(rng, {"0", "1", "2", "10", "00"});
  if (rng() % 3 == 0) {
    v += Pick(rng, {"a", "b", "rc", "alpha", "beta", "c", "pre", "preview", ".a", "-rc", "_b"});
    v += Pick(rng, {"", "0", "1", "2", ".3", "-1"});
  }
  if (rng() % 4 == 0) v += Pick(rng, {".post1", "post2", "-1", ".post", "-r3", "rev4", ".post0"});
  if (rng() % 4 == 0) v += Pick(rng, {".dev0", "dev1", ".dev", "-dev2"});
  if (rng() % 6 == 0) v += Pick(rng, {"+local", "+1", "+abc.2", "+ubuntu-1", "+2.abc", "+01"});
  return v;
}

TEST(Pep440Version, OrdersThousandsOfPairsAsPythonPackagingDoes) {
  Pairs raw = MakePairs(3000, Pep440Version);
  // The reference says which strings are valid too; compare only pairs it accepts, and agree
  // with it on which are valid.
  auto want = Reference(
      raw,
      "/usr/bin/python3 -c '\n"
      "import sys\n"
      "from packaging.version import Version, InvalidVersion\n"
      "def v(s):\n"
      "    try: return Version(s)\n"
      "    except InvalidVersion: return None\n"
      "for line in open(\"pairs.txt\"):\n"
      "    a, b = line.split()\n"
      "    x, y = v(a), v(b)\n"
      "    if x is None or y is None: print(\"invalid\", int(x is not None), int(y is not None))\n"
      "    else: print(\"<\" if x < y else \"=\" if x == y else \">\")\n"
      "'");
  ASSERT_EQ(want.size(), raw.size());
  int wrong = 0, compared = 0;
  for (size_t i = 0; i < raw.size(); ++i) {
    const auto& [a, b] = raw[i];
    if (want[i].starts_with("invalid")) {
      bool ref_a = want[i][8] == '1', ref_b = want[i][10] == '1';
      if ((ValidatePep440(a).has_value() != ref_a || ValidatePep440(b).has_value() != ref_b) &&
          ++wrong <= 20) {
        ADD_FAILURE() << a << ", " << b << ": packaging says " << want[i];
      }
      continue;
    }
    ++compared;
    char got = Sign(ComparePep440(a, b));
    if (std::string(1, got) != want[i] && ++wrong <= 20) {
      ADD_FAILURE() << a << " vs " << b << ": packaging says " << want[i] << ", we say " << got;
    }
  }
  EXPECT_GT(compared, 2000);
  EXPECT_EQ(wrong, 0);
}

}  // namespace
}  // namespace berth::security::scan
