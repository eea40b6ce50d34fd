// The image scanner end to end, as a user drives it with the berth CLI against berthd dev
// (agent on a private bridge): import real OSV advisories, build an image whose dpkg database
// is this machine's with two packages made older (vulnerable), see the findings; ignore one
// with a reason and see it go; import newer advisories and see the image rescanned; and the
// bad inputs: a truncated advisory file and an image whose dpkg status is a symlink out of it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/http/client.h"
#include "core/json.h"
#include "harness/harness.h"

namespace berth::testing {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ScanE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = FreePort();
    data_ = dir_.MakeSubdir("data");
    std::string octet = std::to_string(::getpid() % 200 + 20);
    bridge_ = "bscan" + std::to_string(::getpid() % 10000);
    process_ = Process::Start("berthd", {BerthdPath(), "dev", "--data-dir", data_, "--api",
                                         "127.0.0.1:" + std::to_string(port_), "--dns", "none",
                                         "--gateway", "none", "--no-controller", "--subnet",
                                         "100.97." + octet + ".0/24", "--bridge", bridge_});
    ASSERT_TRUE(process_);
    ASSERT_TRUE(WaitFor([&] { return HttpGet(port_, "/v1/health").has_value(); }));
    std::ifstream(data_ + "/admin.token") >> admin_;
    ASSERT_FALSE(admin_.empty());
  }
  void TearDown() override {
    if (process_) process_->Stop();
    std::system(("ip link delete " + bridge_ + " 2>/dev/null").c_str());
  }

  ToolResult Berth(std::vector<std::string> args) {
    args.insert(args.begin(), BinaryPath("src/cmd/berth"));
    ProcessOptions o;
    o.env = {{"BERTH_ADDR", "http://127.0.0.1:" + std::to_string(port_)},
             {"BERTH_TOKEN", admin_},
             {"HOME", dir_.path()},
             {"XDG_CONFIG_HOME", dir_.Sub("config")}};
    o.log_path = dir_.Sub("cli-" + std::to_string(++counter_) + ".log");
    return RunTool("berth", std::move(args), std::move(o), std::chrono::seconds(120));
  }
  Json BerthJson(std::vector<std::string> args) {
    args.insert(args.begin(), {"-o", "json"});
    auto out = Berth(args);
    auto j = ParseJson(out.text);
    EXPECT_TRUE(j.has_value()) << out.text;
    return j ? *j : Json();
  }

  // A build context: os-release of Debian 12 and this machine's dpkg status with `versions`
  // set; `status_link` makes the status a symlink to that path instead.
  std::string Context(const std::map<std::string, std::string>& versions,
                      const std::string& status_link = "") {
    std::string ctx = dir_.MakeSubdir("ctx-" + std::to_string(++counter_));
    fs::create_directories(ctx + "/etc");
    fs::create_directories(ctx + "/var/lib/dpkg");
    std::ofstream(ctx + "/etc/os-release") << "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
                                              "ID=debian\nVERSION_ID=\"12\"\n";
    if (!status_link.empty()) {
      fs::create_symlink(status_link, ctx + "/var/lib/dpkg/status");
      return ctx;
    }
    std::string text = Slurp("/var/lib/dpkg/status");
    for (const auto& [pkg, version] : versions) {
      size_t at = text.find("Package: " + pkg + "\n");
      EXPECT_NE(at, std::string::npos) << pkg;
      size_t v = text.find("\nVersion: ", at);
      size_t end = text.find('\n', v + 1);
      text.replace(v + 10, end - v - 10, version);
    }
    std::ofstream(ctx + "/var/lib/dpkg/status") << text;
    return ctx;
  }

  std::set<std::string> Advisories(const std::string& image) {
    Json r = BerthJson({"security", "scan", image});
    std::set<std::string> out;
    for (const auto& f : r["findings"])
      out.insert(f.value("advisory", "") + " " + f.value("package", ""));
    return out;
  }

  TempDir dir_{"berth-scan-e2e"};
  std::string data_, bridge_, admin_;
  int port_ = 0;
  int counter_ = 0;
  std::unique_ptr<Process> process_;
};

TEST_F(ScanE2E, ImportBuildSeeFindingsIgnoreOneAndRescanOnANewDatabase) {
  auto imported = Berth({"security", "db", "import", BERTH_OSV_SAMPLE});
  ASSERT_EQ(imported.code, 0) << imported.text;
  EXPECT_NE(imported.text.find("imported 4 advisories"), std::string::npos) << imported.text;
  auto built =
      Berth({"image", "build",
             Context({{"librsvg2-2", "2.54.5+dfsg-1"}, {"bind9-libs", "1:9.18.19-1~deb12u1"}}),
             "-t", "vuln:1"});
  ASSERT_EQ(built.code, 0) << built.text;

  auto found = Advisories("vuln:1");
  EXPECT_TRUE(found.contains("DSA-5484-1 librsvg2-2")) << ::testing::PrintToString(found);
  EXPECT_TRUE(found.contains("DSA-5621-1 bind9-libs")) << ::testing::PrintToString(found);
  Json report = BerthJson({"security", "scan", "vuln:1"});
  EXPECT_NE(report["database"].value("imported", "never"), "never") << report.dump();
  // The table names the database's import date too.
  auto table = Berth({"security", "scan", "vuln:1"});
  EXPECT_NE(table.text.find("advisory database imported 20"), std::string::npos) << table.text;
  EXPECT_NE(table.text.find("DSA-5484-1"), std::string::npos) << table.text;
  // SARIF and the SBOMs.
  auto sarif_out = Berth({"-o", "sarif", "security", "scan", "vuln:1"});
  Json sarif = ParseJson(sarif_out.text).value_or(Json::object());
  EXPECT_EQ(sarif.value("version", ""), "2.1.0") << sarif_out.text.substr(0, 300);
  auto spdx = Berth({"-o", "spdx", "security", "sbom", "vuln:1"});
  EXPECT_NE(spdx.text.find("SPDX-2.3"), std::string::npos);

  // Ignore one, by its CVE id, with a reason: it leaves the report.
  auto ignored = Berth({"security", "ignore", "add", "CVE-2023-38633", "--package", "librsvg2-2",
                        "--reason", "no SVG is ever rendered", "--expires", "90d",
                        "--justification", "vulnerable_code_not_in_execute_path"});
  ASSERT_EQ(ignored.code, 0) << ignored.text;
  found = Advisories("vuln:1");
  EXPECT_FALSE(found.contains("DSA-5484-1 librsvg2-2")) << ::testing::PrintToString(found);
  EXPECT_TRUE(found.contains("DSA-5621-1 bind9-libs"));
  report = BerthJson({"security", "scan", "vuln:1"});
  ASSERT_EQ(report["ignored"].size(), 1u) << report.dump();
  EXPECT_EQ(report["ignored"][0].value("reason", ""), "no SVG is ever rendered");

  // A newer database (one more advisory, for libuv1 above its installed version): the image is
  // rescanned without being asked.
  std::string newer = dir_.MakeSubdir("newer");
  std::string uv = Slurp(std::string(BERTH_OSV_SAMPLE) + "/DSA-5638-1.json");
  auto j = ParseJson(uv).value();
  j["id"] = "DSA-9999-1";
  j["affected"][1]["ranges"][0]["events"][1]["fixed"] = "1.44.2-1+deb12u2";
  std::ofstream(newer + "/DSA-9999-1.json") << j.dump();
  int64_t before = BerthJson({"security", "db", "status"}).value("generation", 0);
  ASSERT_EQ(Berth({"security", "db", "import", newer}).code, 0);
  EXPECT_EQ(BerthJson({"security", "db", "status"}).value("generation", 0), before + 1);
  ASSERT_TRUE(WaitFor([&] {
    Json r = BerthJson({"security", "scan", "vuln:1"});
    return r["database"].value("generation", 0) == before + 1;
  })) << "no rescan after the database changed";
  found = Advisories("vuln:1");
  EXPECT_TRUE(found.contains("DSA-9999-1 libuv1")) << ::testing::PrintToString(found);
}

TEST_F(ScanE2E, ATruncatedAdvisoryFileImportsNothing) {
  ASSERT_EQ(Berth({"security", "db", "import", BERTH_OSV_SAMPLE}).code, 0);
  std::string bad = dir_.MakeSubdir("bad");
  std::string whole = Slurp(std::string(BERTH_OSV_SAMPLE) + "/DSA-5621-1.json");
  std::ofstream(bad + "/DSA-5621-2.json") << whole.substr(0, whole.size() / 3);
  std::ofstream(bad + "/DSA-0001-1.json")
      << Slurp(std::string(BERTH_OSV_SAMPLE) + "/DSA-5484-1.json");
  auto r = Berth({"security", "db", "import", bad});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.text.find("DSA-5621-2.json"), std::string::npos) << r.text;
  Json st = BerthJson({"security", "db", "status"});
  EXPECT_EQ(st.value("advisories", 0), 4) << st.dump();
  EXPECT_EQ(st.value("generation", 0), 1) << "a failed import raised the generation";
}

TEST_F(ScanE2E, AnImageWhoseStatusIsASymlinkOutOfItIsNotScannedAndSaysWhy) {
  // The host's real status sits at the symlink's target: it must not be read.
  auto built = Berth({"image", "build", Context({}, "/var/lib/dpkg/status.host"), "-t", "sly:1"});
  ASSERT_EQ(built.code, 0) << built.text;
  auto r = Berth({"security", "scan", "sly:1"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.text.find("/var/lib/dpkg/status is a symlink to /var/lib/dpkg/status.host, which "
                        "the image does not have"),
            std::string::npos)
      << r.text;
}

// Admission: an app whose image has a fixable critical finding is refused under enforce (one
// error listing the rule, --dry-run shows the same), admitted with a warning under warn, and
// both decisions are in the audit trail.
TEST_F(ScanE2E, ApplyIsRefusedUnderEnforceAndAdmittedWithAWarningUnderWarn) {
  // The sample's bind9 advisory, scored critical.
  std::string db = dir_.MakeSubdir("critical");
  auto j = ParseJson(Slurp(std::string(BERTH_OSV_SAMPLE) + "/DSA-5621-1.json")).value();
  j["id"] = "DSA-9997-1";
  j["severity"] = Json::array(
      {{{"type", "CVSS_V3"}, {"score", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}});
  std::ofstream(db + "/DSA-9997-1.json") << j.dump();
  ASSERT_EQ(Berth({"security", "db", "import", db}).code, 0);
  ASSERT_EQ(
      Berth({"image", "build", Context({{"bind9-libs", "1:9.18.19-1~deb12u1"}}), "-t", "crit:1"})
          .code,
      0);
  ASSERT_EQ(Berth({"security", "scan", "crit:1"}).code, 0);
  std::ofstream(dir_.Sub("enforce.yaml"))
      << "mode: enforce\nlevel: baseline\ndenySeverity: critical\n";
  std::ofstream(dir_.Sub("warn.yaml")) << "mode: warn\nlevel: baseline\ndenySeverity: critical\n";
  std::ofstream(dir_.Sub("app.yaml")) << "namespace: shop\nname: web\nservices:\n  api:\n"
                                         "    image: crit:1\n";
  ASSERT_EQ(Berth({"security", "policy", "set", "shop", "-f", dir_.Sub("enforce.yaml")}).code, 0);

  auto dry = Berth({"apply", "-f", dir_.Sub("app.yaml"), "--dry-run"});
  EXPECT_NE(dry.code, 0);
  EXPECT_NE(dry.text.find("admission policy of namespace shop (enforce) refuses app shop/web"),
            std::string::npos)
      << dry.text;
  auto refused = Berth({"apply", "-f", dir_.Sub("app.yaml")});
  EXPECT_NE(refused.code, 0);
  EXPECT_NE(refused.text.find("critical finding DSA-9997-1 in bind9-libs has a fix (1:9.18.24-1)"),
            std::string::npos)
      << refused.text;
  EXPECT_EQ(Berth({"get", "-n", "shop", "apps"}).text.find("web"), std::string::npos);

  ASSERT_EQ(Berth({"security", "policy", "set", "shop", "-f", dir_.Sub("warn.yaml")}).code, 0);
  auto warned = Berth({"apply", "-f", dir_.Sub("app.yaml")});
  ASSERT_EQ(warned.code, 0) << warned.text;
  EXPECT_NE(warned.text.find("warning: admission"), std::string::npos) << warned.text;
  EXPECT_NE(warned.text.find("app shop/web created"), std::string::npos) << warned.text;

  auto audit = Berth({"audit", "ls", "--limit", "50"});
  EXPECT_NE(audit.text.find("admission app shop/web (dry run)"), std::string::npos) << audit.text;
  EXPECT_NE(audit.text.find("admitted with warnings"), std::string::npos) << audit.text;
}

}  // namespace
}  // namespace berth::testing
