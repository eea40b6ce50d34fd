// Advisories from the real OSV records in shared/data/osv-sample (a directory, single files
// and a zip like OSV's per-ecosystem downloads), the Debian tracker's JSON form, and hostile
// or truncated inputs (nothing imported half); matching this machine's dpkg status with chosen
// versions made older, through source packages.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness/harness.h"
#include "security/scan/advisory_db.h"
#include "security/scan/matcher.h"

namespace berth::security::scan {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A zip of `files` (name -> content) written with libarchive.
void WriteZip(const std::string& path,
              const std::vector<std::pair<std::string, std::string>>& files) {
  archive* a = archive_write_new();
  archive_write_set_format_zip(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  for (const auto& [name, text] : files) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(text.size()));
    archive_write_header(a, e);
    archive_write_data(a, text.data(), text.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

TEST(OsvReader, ReadsTheRealSampleRecords) {
  ReadReport report;
  auto advs = ReadAdvisories(BERTH_OSV_SAMPLE, &report);
  ASSERT_TRUE(advs.has_value()) << advs.error().message;
  ASSERT_EQ(advs->size(), 4u);
  EXPECT_EQ(report.files, 4u);
  const Advisory& bind = (*advs)[2];
  EXPECT_EQ(bind.id, "DSA-5621-1");
  EXPECT_EQ(bind.aliases.size(), 5u);
  ASSERT_EQ(bind.affected.size(), 2u);
  EXPECT_EQ(bind.affected[1].ecosystem, "Debian:12");
  EXPECT_EQ(bind.affected[1].package, "bind9");
  EXPECT_EQ(bind.affected[1].ranges[0].events[1].version, "1:9.18.24-1");
  EXPECT_EQ((*advs)[0].id, "ALPINE-CVE-2023-42363");
}

TEST(OsvReader, TruncatedAndHostileRecordsNameFileAndField) {
  std::string good = Slurp(BERTH_OSV_SAMPLE "/DSA-5484-1.json");
  ReadReport report;
  auto truncated = ParseOsv(good.substr(0, good.size() / 2), "DSA-5484-1.json", &report);
  ASSERT_FALSE(truncated.has_value());
  EXPECT_TRUE(truncated.error().message.starts_with("DSA-5484-1.json: "))
      << truncated.error().message;
  struct Case {
    std::string json, want;
  };
  const Case kCases[] = {
      {R"({"modified":"x"})", "needs \"id\""},
      {R"({"id":"A","modified":"x","affected":{}})", "affected: must be a list"},
      {R"({"id":"A","modified":"x","affected":[{"package":{"name":"x"}}]})",
       "affected[0].package: needs \"ecosystem\""},
      {R"({"id":"A","modified":"x","affected":[{"package":{"ecosystem":"npm","name":"x"},"ranges":[{"type":"SEMVER","events":[{"fixed":1}]}]}]})",
       "affected[0].ranges[0].events[0].fixed: must be a version string"},
      {R"({"id":"A","modified":"x","affected":[{"package":{"ecosystem":"npm","name":"x"},"ranges":[{"type":"SEMVER","events":[{"fixed":"1","introduced":"0"}]}]}]})",
       "events[0]: must be one of"},
      {R"({"id":"A B","modified":"x"})", "id: must be 1-128 printable"},
      {R"({"id":"A","modified":"x","aliases":"CVE-1"})", "aliases: must be a list"},
      {R"([1,2,3])", "must be a JSON object"},
      {"\xff\xfe", ""},
  };
  for (const auto& c : kCases) {
    auto r = ParseOsv(c.json, "bad.json", &report);
    ASSERT_FALSE(r.has_value()) << c.json;
    EXPECT_NE(r.error().message.find("bad.json"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(c.want), std::string::npos) << r.error().message;
  }
}

TEST(OsvReader, AZipLikeOsvsDownloadsAndABadEntryInIt) {
  testing::TempDir dir("berth-osv-zip");
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& e : fs::directory_iterator(BERTH_OSV_SAMPLE)) {
    if (e.path().extension() == ".json") files.emplace_back(e.path().filename(), Slurp(e.path()));
  }
  WriteZip(dir.Sub("all.zip"), files);
  ReadReport report;
  auto advs = ReadAdvisories(dir.Sub("all.zip"), &report);
  ASSERT_TRUE(advs.has_value()) << advs.error().message;
  EXPECT_EQ(advs->size(), 4u);
  files.emplace_back("broken.json", "{\"id\": \"X\", \"modified\": ");
  WriteZip(dir.Sub("bad.zip"), files);
  auto bad = ReadAdvisories(dir.Sub("bad.zip"), &report);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("bad.zip:broken.json"), std::string::npos)
      << bad.error().message;
  // A zip cut short.
  std::string whole = Slurp(dir.Sub("all.zip"));
  std::ofstream(dir.Sub("cut.zip"), std::ios::binary) << whole.substr(0, whole.size() / 2);
  EXPECT_FALSE(ReadAdvisories(dir.Sub("cut.zip"), &report).has_value());
}

TEST(DebianTracker, ResolvedOpenAndNotAffectedReleases) {
  // The tracker's form for the advisories of the sample (CVE-2023-38633 in librsvg).
  const std::string json = R"({
    "librsvg": {
      "CVE-2023-38633": {
        "description": "A directory traversal problem in the URL decoder of librsvg",
        "scope": "remote",
        "releases": {
          "bookworm": {"status": "resolved", "repositories": {"bookworm": "2.54.7+dfsg-1~deb12u1"},
                       "fixed_version": "2.54.7+dfsg-1~deb12u1", "urgency": "not yet assigned"},
          "bullseye": {"status": "resolved", "fixed_version": "2.50.3+dfsg-1+deb11u1", "urgency": "medium"},
          "buster": {"status": "resolved", "fixed_version": "0", "urgency": "unimportant"},
          "trixie": {"status": "open", "urgency": "low"},
          "sid": {"status": "resolved", "fixed_version": "2.56.3+dfsg-1", "urgency": "not yet assigned"}
        }
      },
      "TEMP-0000000-ABCDEF": {"releases": {}}
    }
  })";
  ReadReport report;
  auto advs = ParseDebianTracker(json, "tracker.json", &report);
  ASSERT_TRUE(advs.has_value()) << advs.error().message;
  ASSERT_EQ(advs->size(), 1u);
  const Advisory& a = (*advs)[0];
  EXPECT_EQ(a.id, "DEBIAN-CVE-2023-38633");
  EXPECT_EQ(a.severity, Severity::kMedium);
  ASSERT_EQ(a.affected.size(), 3u);  // bookworm, bullseye, trixie; not buster, not sid
  auto bad = ParseDebianTracker(R"({"x": {"CVE-1": {"releases": {"bookworm": {"status": 1}}}}})",
                                "tracker.json", &report);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("x.CVE-1.releases.bookworm"), std::string::npos);
}

class MatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = AdvisoryDb::Open(dir_.Sub("advisories.db"));
    ASSERT_TRUE(db.has_value()) << db.error().message;
    db_ = std::move(*db);
  }
  // This machine's dpkg status with chosen packages' versions set to `versions`.
  Inventory Machine(const std::map<std::string, std::string>& versions) {
    std::string text = Slurp("/var/lib/dpkg/status");
    for (const auto& [pkg, version] : versions) {
      size_t at = text.find("Package: " + pkg + "\n");
      EXPECT_NE(at, std::string::npos) << pkg << " is not installed here";
      size_t v = text.find("\nVersion: ", at);
      size_t end = text.find('\n', v + 1);
      text.replace(v + 10, end - v - 10, version);
    }
    Inventory inv;
    inv.distro = {.id = "debian", .version_id = "12"};
    inv.layers = {"sha256:base"};
    auto r = ReadDpkgStatus(text, ImageFile{.path = "/var/lib/dpkg/status"}, &inv.packages);
    EXPECT_TRUE(r.has_value()) << r.error().message;
    return inv;
  }
  testing::TempDir dir_{"berth-match"};
  std::unique_ptr<AdvisoryDb> db_;
};

TEST_F(MatchTest, OlderVersionsOfThisMachinesPackagesMatchThroughTheirSource) {
  ReadReport report;
  auto advs = ReadAdvisories(BERTH_OSV_SAMPLE, &report);
  ASSERT_TRUE(advs.has_value());
  auto imported = db_->Import(*advs, BERTH_OSV_SAMPLE, 1765000000000);
  ASSERT_TRUE(imported.has_value()) << imported.error().message;
  EXPECT_EQ(imported->advisories, 4u);
  EXPECT_EQ(imported->generation, 1);
  auto inv = Machine({{"librsvg2-2", "2.54.5+dfsg-1"}, {"bind9-libs", "1:9.18.19-1~deb12u1"}});
  auto findings = Match(inv, *db_);
  ASSERT_TRUE(findings.has_value()) << findings.error().message;
  std::set<std::string> got;
  for (const auto& f : *findings) got.insert(f.package + " " + f.advisory + " fixed " + f.fixed);
  EXPECT_TRUE(got.contains("librsvg2-2 DSA-5484-1 fixed 2.54.7+dfsg-1~deb12u1"))
      << ::testing::PrintToString(got);
  EXPECT_TRUE(got.contains("bind9-libs DSA-5621-1 fixed 1:9.18.24-1"))
      << ::testing::PrintToString(got);
  // libuv1 is at its fixed version here; the Alpine record names no Debian package.
  for (const auto& f : *findings) {
    EXPECT_NE(f.package, "libuv1");
    EXPECT_EQ(f.ecosystem, "Debian:12");
    if (f.package == "bind9-libs") EXPECT_EQ(f.source, "bind9");
  }
  // The machine as it is (already fixed) has none of these.
  auto clean = Match(Machine({}), *db_);
  ASSERT_TRUE(clean.has_value());
  for (const auto& f : *clean) EXPECT_NE(f.advisory.substr(0, 4), "DSA-") << f.package;
}

TEST_F(MatchTest, AFailedImportStoresNothingAndKeepsTheGeneration) {
  ReadReport report;
  auto advs = ReadAdvisories(BERTH_OSV_SAMPLE, &report);
  ASSERT_TRUE(advs.has_value());
  ASSERT_TRUE(db_->Import(*advs, "sample", 1).has_value());
  testing::TempDir in("berth-osv-bad");
  fs::copy(BERTH_OSV_SAMPLE, in.path(), fs::copy_options::recursive);
  for (const auto& e : fs::directory_iterator(in.path()))
    fs::permissions(e.path(), fs::perms::owner_all, fs::perm_options::add);
  std::ofstream(in.Sub("ZZZ-bad.json"))
      << R"({"id":"ZZZ","modified":"x","affected":[{"package":5}]})";
  auto again = ReadAdvisories(in.path(), &report);
  ASSERT_FALSE(again.has_value());  // read fails before anything is written
  EXPECT_NE(again.error().message.find("ZZZ-bad.json: affected[0].package"), std::string::npos);
  auto st = db_->Status();
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->advisories, 4);
  EXPECT_EQ(st->generation, 1);
}

TEST(Affects, RangesFollowOsvsEvaluation) {
  AdvisoryHit h;
  h.ranges = {{.type = "SEMVER",
               .events = {{RangeEvent::Kind::kIntroduced, "1.0.0"},
                          {RangeEvent::Kind::kFixed, "1.2.0"},
                          {RangeEvent::Kind::kIntroduced, "2.0.0"},
                          {RangeEvent::Kind::kLastAffected, "2.1.0"}}}};
  std::string fixed;
  EXPECT_FALSE(Affects(h, VersionScheme::kSemver, "0.9.0", &fixed));
  EXPECT_TRUE(Affects(h, VersionScheme::kSemver, "1.1.9", &fixed));
  EXPECT_EQ(fixed, "1.2.0");
  EXPECT_FALSE(Affects(h, VersionScheme::kSemver, "1.2.0", &fixed));
  EXPECT_TRUE(Affects(h, VersionScheme::kSemver, "2.1.0", &fixed));
  EXPECT_EQ(fixed, "");
  EXPECT_FALSE(Affects(h, VersionScheme::kSemver, "2.1.1", &fixed));
  h.ranges.clear();
  h.versions = {"3.0.0"};
  EXPECT_TRUE(Affects(h, VersionScheme::kSemver, "3.0.0", &fixed));
  EXPECT_FALSE(Affects(h, VersionScheme::kSemver, "3.0.1", &fixed));
}

}  // namespace
}  // namespace berth::security::scan
