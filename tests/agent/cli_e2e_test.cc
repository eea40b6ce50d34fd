// The node agent end to end, as a user drives it: a real `berthd dev` (control plane and
// agent, as root, real runc or crun and CNI) and the `berth` CLI, plus a few raw calls to
// the HTTP API. Images are built, imported, listed, inspected and removed; containers run
// with published ports, limits and restart policies and are listed, logged, exec'd into,
// stopped and removed; privileged containers and added capabilities are refused for an
// operator and allowed for the admin; hostile archives are refused with a clear message
// and leave the image store as it was.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "agent/image/digest.h"
#include "agent/image/image_store.h"
#include "agent/image/test_archive.h"
#include "core/http/client.h"
#include "core/json.h"
#include "harness/harness.h"

namespace berth::testing {
namespace {

namespace fs = std::filesystem;
using agent::image::testing::File;
using agent::image::testing::TarEntry;
using agent::image::testing::WriteTar;

class AgentE2E : public ::testing::Test {
 protected:
  // berthd dev with its agent on a private bridge and subnet; no DNS, no gateway.
  void StartBerthd(std::vector<std::string> extra = {}) {
    api_port_ = FreePort();
    data_ = dir_.MakeSubdir("data");
    std::string octet = std::to_string(::getpid() % 200 + 20);
    bridge_ = "be2e" + std::to_string(::getpid() % 100000);
    std::vector<std::string> argv = {
        BerthdPath(), "dev",      "--data-dir",
        data_,        "--api",    "127.0.0.1:" + std::to_string(api_port_),
        "--dns",      "none",     "--gateway",
        "none",       "--subnet", "100.99." + octet + ".0/24",
        "--bridge",   bridge_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    berthd_ = Process::Start("berthd", argv);
    ASSERT_TRUE(berthd_);
    ASSERT_TRUE(WaitFor([&] { return HttpGet(api_port_, "/v1/health").has_value(); }));
    std::ifstream(data_ + "/admin.token") >> admin_;
    ASSERT_FALSE(admin_.empty());
  }

  void TearDown() override {
    // Containers outlive berthd by design: remove them through it first.
    if (berthd_ && berthd_->Running()) {
      auto ps = Berth({"-o", "json", "ps", "-a"});
      if (auto j = ParseJson(ps.text); j && j->contains("containers"))
        for (const auto& c : (*j)["containers"]) Berth({"rm", "--force", c.value("id", "")});
      berthd_->Stop();
    }
    std::system(("ip link delete " + bridge_ + " 2>/dev/null").c_str());
  }

  using Out = ToolResult;  // text: stdout and stderr together

  Out Berth(std::vector<std::string> args, std::string token = "") {
    if (token.empty()) token = admin_;
    args.insert(args.begin(), BinaryPath("src/cmd/berth"));
    ProcessOptions opts;
    opts.env = {{"BERTH_ADDR", "http://127.0.0.1:" + std::to_string(api_port_)},
                {"BERTH_TOKEN", token},
                {"XDG_CONFIG_HOME", dir_.Sub("config")},
                {"HOME", dir_.path()}};
    opts.log_path = dir_.Sub("cli-" + std::to_string(counter_++) + ".log");
    return RunTool("berth", std::move(args), std::move(opts), std::chrono::seconds(180));
  }

  Json BerthJson(std::vector<std::string> args, std::string token = "") {
    args.insert(args.begin(), {"-o", "json"});
    auto out = Berth(std::move(args), std::move(token));
    auto j = ParseJson(out.text);
    EXPECT_TRUE(j.has_value()) << out.text;
    return j ? *j : Json();
  }

  Result<http::Response> Api(std::string_view method, std::string_view path, const Json& body,
                             const std::string& token) {
    http::Headers h;
    h.Set("Authorization", "Bearer " + token);
    h.Set("Content-Type", "application/json");
    return http::Fetch(method, "http://127.0.0.1:" + std::to_string(api_port_) + std::string(path),
                       body.dump(), std::move(h));
  }

  // A build context: busybox-static with a few applets, the static probe, /etc/passwd.
  std::string Context() {
    std::string ctx = dir_.MakeSubdir("ctx-" + std::to_string(counter_++));
    fs::create_directories(ctx + "/bin");
    fs::create_directories(ctx + "/etc");
    fs::copy_file("/bin/busybox", ctx + "/bin/busybox");
    fs::copy_file(BERTH_PROBE_PATH, ctx + "/probe");
    for (const char* a : {"sh", "cat", "echo", "sleep", "id"})
      fs::create_symlink("busybox", ctx + "/bin/" + a);
    std::ofstream(ctx + "/etc/passwd") << "root:x:0:0:root:/:/bin/sh\n";
    return ctx;
  }

  // Builds the test image through the CLI; no entrypoint, so every run names its command.
  void BuildImage(const std::string& tag) {
    auto b = Berth({"image", "build", Context(), "-t", tag, "--env", "E2E=1"});
    ASSERT_EQ(b.code, 0) << b.text;
    ASSERT_NE(b.text.find(tag), std::string::npos) << b.text;
  }

  std::string ContainerId(const std::string& name) {
    return BerthJson({"inspect", name}).value("id", "");
  }

  std::string Logs(const std::string& name) { return Berth({"logs", name}).text; }

  bool WaitForLog(const std::string& name, const std::string& text) {
    return WaitFor([&] { return Logs(name).find(text) != std::string::npos; },
                   std::chrono::seconds(60), std::chrono::milliseconds(100));
  }

  bool WaitForStatus(const std::string& name, const std::string& status) {
    return WaitFor(
        [&] {
          return BerthJson({"inspect", name}).value("status", "") == status;
        },
        std::chrono::seconds(60), std::chrono::milliseconds(100));
  }

  // What the image store holds on disk: blobs, unpacked layers, leftovers in its tmp dir.
  std::set<std::string> StoreFiles() {
    std::set<std::string> out;
    std::error_code ec;
    for (const char* sub : {"/images/blobs/sha256", "/images/layers", "/images/tmp"})
      for (const auto& e : fs::directory_iterator(data_ + sub, ec))
        out.insert(std::string(sub) + "/" + e.path().filename().string());
    return out;
  }

  // A `docker save` archive named `name` with one layer of `entries`; `wrong_diff_id`
  // records a digest the layer does not have.
  std::string DockerArchive(const std::string& name, const std::vector<TarEntry>& entries,
                            bool wrong_diff_id = false) {
    std::string layer_path = dir_.Sub("layer-" + std::to_string(counter_++) + ".tar");
    EXPECT_TRUE(WriteTar(layer_path, entries));
    std::ifstream in(layer_path, std::ios::binary);
    std::string layer((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string diff_id =
        wrong_diff_id ? agent::image::DigestOf("something else") : agent::image::DigestOf(layer);
    std::string config = Json{{"architecture", "amd64"},
                              {"os", "linux"},
                              {"config", {{"Cmd", {"/bin/sh"}}}},
                              {"rootfs", {{"type", "layers"}, {"diff_ids", {diff_id}}}}}
                             .dump();
    std::string cfg_name =
        std::string(agent::image::DigestHex(agent::image::DigestOf(config))) + ".json";
    std::string path = dir_.Sub("archive-" + std::to_string(counter_++) + ".tar");
    EXPECT_TRUE(WriteTar(path, {File("l0/layer.tar", layer), File(cfg_name, config),
                                File("manifest.json", Json::array({{{"Config", cfg_name},
                                                                    {"RepoTags", {name}},
                                                                    {"Layers", {"l0/layer.tar"}}}})
                                                          .dump())}));
    return path;
  }

  TempDir dir_{"berth-agent-e2e"};
  std::unique_ptr<Process> berthd_;
  int api_port_ = 0;
  std::string data_;
  std::string bridge_;
  std::string admin_;
  int counter_ = 0;
};

TEST_F(AgentE2E, ImagesBuildImportListInspectRemove) {
  StartBerthd();
  BuildImage("e2e/app:1");
  auto ls = Berth({"image", "ls"});
  ASSERT_EQ(ls.code, 0) << ls.text;
  EXPECT_NE(ls.text.find("NAMES"), std::string::npos) << ls.text;
  EXPECT_NE(ls.text.find("e2e/app:1"), std::string::npos) << ls.text;
  Json im = BerthJson({"image", "inspect", "e2e/app:1"});
  EXPECT_TRUE(im.value("id", "").starts_with("sha256:")) << im.dump();
  EXPECT_EQ(im["layers"].size(), 1u);
  EXPECT_NE(im["config"]["env"].dump().find("E2E=1"), std::string::npos) << im.dump();

  // An OCI archive made by another store, imported through the CLI.
  TempDir other("berth-e2e-store");
  auto store = agent::image::ImageStore::Open(other.Sub("store"));
  ASSERT_TRUE(store) << store.error().message;
  agent::image::BuildOptions bo;
  bo.name = "e2e/imported:2";
  bo.cmd = {"/bin/echo", "imported"};
  ASSERT_TRUE((*store)->Build(Context(), bo));
  std::string archive = other.Sub("imported.oci.tar");
  ASSERT_TRUE((*store)->ExportOciArchive("e2e/imported:2", archive));
  auto imp = Berth({"image", "import", archive});
  ASSERT_EQ(imp.code, 0) << imp.text;
  EXPECT_NE(imp.text.find("e2e/imported:2"), std::string::npos) << imp.text;
  ls = Berth({"image", "ls"});
  EXPECT_NE(ls.text.find("e2e/imported:2"), std::string::npos) << ls.text;
  // It runs.
  auto run = Berth({"run", "--name", "imp", "--network", "none", "e2e/imported:2"});
  ASSERT_EQ(run.code, 0) << run.text;
  ASSERT_TRUE(WaitForLog("imp", "imported"));

  // In use: refused; once the container is gone: removed.
  auto busy = Berth({"image", "rm", "e2e/imported:2"});
  EXPECT_EQ(busy.code, 1);
  EXPECT_NE(busy.text.find("is used by container imp"), std::string::npos) << busy.text;
  ASSERT_EQ(Berth({"rm", "--force", "imp"}).code, 0);
  auto rm = Berth({"image", "rm", "e2e/imported:2"});
  EXPECT_EQ(rm.code, 0) << rm.text;
  ls = Berth({"image", "ls"});
  EXPECT_EQ(ls.text.find("e2e/imported:2"), std::string::npos) << ls.text;
  EXPECT_NE(ls.text.find("e2e/app:1"), std::string::npos) << ls.text;
  auto gone = Berth({"image", "inspect", "e2e/imported:2"});
  EXPECT_EQ(gone.code, 1);
  EXPECT_TRUE(gone.text.starts_with("error: HTTP 404")) << gone.text;
}

TEST_F(AgentE2E, PullShowsPlainProgressWhenNotATerminal) {
  StartBerthd();
  // Debian's docker-registry on a loopback port, filled by skopeo from an OCI archive.
  TempDir other("berth-e2e-pull");
  auto store = agent::image::ImageStore::Open(other.Sub("store"));
  ASSERT_TRUE(store) << store.error().message;
  std::string ctx = Context();
  std::ofstream(ctx + "/data", std::ios::binary) << std::string(3'000'000, 'p');
  agent::image::BuildOptions bo;
  bo.name = "e2e/pulled:1";
  bo.cmd = {"/bin/echo", "pulled and running"};
  ASSERT_TRUE((*store)->Build(ctx, bo));
  std::string archive = other.Sub("pulled.oci.tar");
  ASSERT_TRUE((*store)->ExportOciArchive("e2e/pulled:1", archive));
  int port = FreePort();
  std::ofstream(other.Sub("registry.yml"))
      << "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: " << other.Sub("registry")
      << "\nhttp:\n  addr: 127.0.0.1:" << port << "\n";
  auto registry =
      Process::Start("docker-registry", {"docker-registry", "serve", other.Sub("registry.yml")});
  ASSERT_TRUE(registry);
  ASSERT_TRUE(WaitForTcp(port));
  const std::string ref = "127.0.0.1:" + std::to_string(port) + "/team/pulled:1";
  auto copy = Process::Start("skopeo", {"skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                                        "oci-archive:" + archive, "docker://" + ref});
  ASSERT_TRUE(copy);
  auto copied = copy->Wait(std::chrono::seconds(120));
  ASSERT_TRUE(copied && WIFEXITED(*copied) && WEXITSTATUS(*copied) == 0) << copy->Logs();

  auto pull = Berth({"image", "pull", "--plain-http", ref});
  ASSERT_EQ(pull.code, 0) << pull.text;
  // Output is a file here, not a terminal: plain lines, no bar, no escape codes.
  EXPECT_EQ(pull.text.find('\r'), std::string::npos) << pull.text;
  EXPECT_EQ(pull.text.find('\033'), std::string::npos) << pull.text;
  size_t pulling = 0, pulled = 0;
  for (size_t pos = 0; (pos = pull.text.find("pulling ", pos)) != std::string::npos; ++pos)
    ++pulling;
  for (size_t pos = 0; (pos = pull.text.find("pulled  ", pos)) != std::string::npos; ++pos)
    ++pulled;
  EXPECT_GE(pulling, 2u) << pull.text;  // config and layer at least
  EXPECT_EQ(pulling, pulled) << pull.text;
  size_t empty = 0;  // the config blob is a few hundred bytes; the layer is not
  for (size_t pos = 0; (pos = pull.text.find("(0.0 MB)", pos)) != std::string::npos; ++pos) ++empty;
  EXPECT_LT(empty, pulling) << pull.text;
  EXPECT_NE(pull.text.find(ref), std::string::npos) << pull.text;
  ASSERT_EQ(Berth({"run", "--name", "p", "--network", "none", ref}).code, 0);
  EXPECT_TRUE(WaitForLog("p", "pulled and running"));
  // JSON output: one object, no progress lines.
  auto json = BerthJson({"image", "pull", "--plain-http", ref});
  EXPECT_TRUE(json.value("id", "").starts_with("sha256:")) << json.dump();
  // A reference the registry does not have: one error line.
  auto missing = Berth(
      {"image", "pull", "--plain-http", "127.0.0.1:" + std::to_string(port) + "/team/nothing:1"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_TRUE(missing.text.starts_with("error: ")) << missing.text;
  EXPECT_EQ(std::count(missing.text.begin(), missing.text.end(), '\n'), 1) << missing.text;
}

TEST_F(AgentE2E, HostileArchivesAreRefusedAndLeaveTheStoreAsItWas) {
  StartBerthd();
  BuildImage("e2e/app:1");
  const std::string before_ls = Berth({"-o", "json", "image", "ls"}).text;
  const auto before_files = StoreFiles();
  ASSERT_FALSE(before_files.empty());

  std::string truncated = DockerArchive("e2e/trunc:1", {File("big", std::string(200000, 'x'))});
  fs::resize_file(truncated, fs::file_size(truncated) / 2);
  struct Case {
    std::string what, path, message;
  };
  std::vector<Case> cases = {
      {"traversal", DockerArchive("e2e/evil:1", {File("../../etc/cron.d/x", "x")}),
       "path traversal"},
      {"absolute symlink escape",
       DockerArchive("e2e/evil:2",
                     {agent::image::testing::Symlink("l", "/etc"), File("l/passwd", "x")}),
       "symlink escape"},
      {"device node", DockerArchive("e2e/evil:3", {agent::image::testing::CharDevice("dev")}),
       "device"},
      {"wrong digest", DockerArchive("e2e/evil:4", {File("a", "a")}, true), "wrong digest"},
      {"truncated", truncated, "truncated"},
  };
  for (const auto& c : cases) {
    auto r = Berth({"image", "import", c.path});
    EXPECT_EQ(r.code, 1) << c.what << ": " << r.text;
    EXPECT_TRUE(r.text.starts_with("error: HTTP 400: ")) << c.what << ": " << r.text;
    EXPECT_NE(r.text.find(c.message), std::string::npos) << c.what << ": " << r.text;
    EXPECT_EQ(std::count(r.text.begin(), r.text.end(), '\n'), 1) << c.what << ": " << r.text;
    EXPECT_EQ(Berth({"-o", "json", "image", "ls"}).text, before_ls) << c.what;
    EXPECT_EQ(StoreFiles(), before_files) << c.what << ": something was left behind";
  }
  // Not an archive at all, and a path that is not there.
  std::ofstream(dir_.Sub("junk.tar")) << "this is not a tar file";
  auto junk = Berth({"image", "import", dir_.Sub("junk.tar")});
  EXPECT_EQ(junk.code, 1);
  EXPECT_TRUE(junk.text.starts_with("error: HTTP 400")) << junk.text;
  auto missing = Berth({"image", "import", dir_.Sub("nope.tar")});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.text.find("nope.tar"), std::string::npos) << missing.text;
  EXPECT_EQ(StoreFiles(), before_files);
  // The image that was there still runs.
  ASSERT_EQ(Berth({"run", "--name", "still", "--network", "none", "e2e/app:1", "--", "/bin/echo",
                   "still here"})
                .code,
            0);
  EXPECT_TRUE(WaitForLog("still", "still here"));
}

TEST_F(AgentE2E, RunWithPortsAndLimitsPsLogsExecStopRm) {
  StartBerthd();
  BuildImage("e2e/app:1");
  int port = FreePort();
  auto run = Berth({"run",       "--name",    "web",        "-p",    std::to_string(port) + ":8080",
                    "--memory",  "64m",       "--cpus",     "0.5",   "--pids",
                    "64",        "--restart", "on-failure", "-e",    "GREETING=hi",
                    "e2e/app:1", "--",        "/probe",     "serve", "8080"});
  ASSERT_EQ(run.code, 0) << run.text;
  EXPECT_TRUE(run.text.starts_with("web ")) << run.text;
  ASSERT_TRUE(WaitForLog("web", "listening on 8080"));
  std::string reply;
  ASSERT_TRUE(WaitFor(
      [&] {
        reply.clear();
        int s = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
          char buf[128];
          ssize_t n;
          while ((n = ::read(s, buf, sizeof buf)) > 0) reply.append(buf, static_cast<size_t>(n));
        }
        ::close(s);
        return reply == "hello from berth\n";
      },
      std::chrono::seconds(30), std::chrono::milliseconds(50)))
      << reply;

  auto ps = Berth({"ps"});
  ASSERT_EQ(ps.code, 0) << ps.text;
  EXPECT_NE(ps.text.find("web"), std::string::npos) << ps.text;
  EXPECT_NE(ps.text.find("running"), std::string::npos) << ps.text;
  EXPECT_NE(ps.text.find("127.0.0.1:" + std::to_string(port) + "->8080/tcp"), std::string::npos)
      << ps.text;
  Json info = BerthJson({"inspect", "web"});
  EXPECT_EQ(info.value("restart_policy", ""), "on-failure");
  EXPECT_TRUE(info.value("ip", "").starts_with("100.99.")) << info.dump();
  const std::string id = info.value("id", "");

  // The limits are the container's cgroup's.
  auto cg = [&](const std::string& file) {
    std::ifstream in("/sys/fs/cgroup/" + file.substr(0, file.find('/')) + "/berth/" + id + "/" +
                     file.substr(file.find('/') + 1));
    std::string v;
    std::getline(in, v);
    return v;
  };
  EXPECT_EQ(cg("memory/memory.limit_in_bytes"), "67108864");
  EXPECT_EQ(cg("pids/pids.max"), "64");
  EXPECT_EQ(cg("cpu/cpu.cfs_quota_us"), "50000");

  auto exec = Berth({"exec", "web", "--", "/bin/sh", "-c", "echo $GREETING; cat /etc/hostname"});
  EXPECT_EQ(exec.code, 0) << exec.text;
  EXPECT_EQ(exec.text, "hi\nweb\n");
  auto failing = Berth({"exec", "web", "--", "/bin/sh", "-c", "exit 7"});
  EXPECT_EQ(failing.code, 7);
  // Issue 15: an exec through the API is bounded by its timeout_ms (it held a thread before).
  auto hung = Api("POST", "/v1/containers/web/exec",
                  Json{{"cmd", Json::array({"/bin/sleep", "600"})}, {"timeout_ms", 300}}, admin_);
  ASSERT_TRUE(hung) << hung.error().message;
  EXPECT_EQ(hung->status, 200) << hung->body;
  auto hung_body = ParseJson(hung->body);
  ASSERT_TRUE(hung_body) << hung->body;
  EXPECT_EQ(hung_body->value("timed_out", false), true) << hung->body;
  EXPECT_EQ(hung_body->value("exit_code", 0), -1) << hung->body;
  for (const Json& bad : {Json{{"cmd", Json::array({"true"})}, {"timeout_ms", -1}},
                          Json{{"cmd", Json::array({"true"})}, {"timeout_ms", "1s"}},
                          Json{{"cmd", Json::array({"true"})}, {"tty", true}}}) {
    auto refused = Api("POST", "/v1/containers/web/exec", bad, admin_);
    ASSERT_TRUE(refused) << refused.error().message;
    EXPECT_EQ(refused->status, 400) << bad.dump() << " " << refused->body;
  }
  // The CLI's --timeout: killed, 124 as timeout(1), and a line that says so.
  auto cut = Berth({"exec", "--timeout", "300ms", "web", "--", "/bin/sleep", "600"});
  EXPECT_EQ(cut.code, 124) << cut.text;
  EXPECT_NE(cut.text.find("exec in web timed out after 300ms and was killed"), std::string::npos)
      << cut.text;
  auto bad_timeout = Berth({"exec", "--timeout", "soon", "web", "--", "/bin/true"});
  EXPECT_EQ(bad_timeout.code, 1) << bad_timeout.text;
  EXPECT_NE(bad_timeout.text.find("--timeout"), std::string::npos) << bad_timeout.text;
  auto logs = Berth({"logs", "--tail", "1", "web"});
  EXPECT_EQ(logs.text, "listening on 8080\n");

  // Raw API: the logs as JSON lines.
  auto raw = Api("GET", "/v1/containers/web/logs", Json(), admin_);
  ASSERT_TRUE(raw) << raw.error().message;
  EXPECT_EQ(raw->status, 200);
  EXPECT_NE(raw->body.find("\"stream\":\"stdout\""), std::string::npos) << raw->body;

  auto stop = Berth({"stop", "-t", "2", "web"});
  ASSERT_EQ(stop.code, 0) << stop.text;
  EXPECT_NE(stop.text.find("web exited"), std::string::npos) << stop.text;
  EXPECT_FALSE(fs::exists("/run/netns/berth-" + id));
  ps = Berth({"ps"});
  EXPECT_EQ(ps.text.find("web"), std::string::npos) << ps.text;
  ps = Berth({"ps", "-a"});
  EXPECT_NE(ps.text.find("exited"), std::string::npos) << ps.text;
  // Stopped by the user: the restart policy leaves it alone.
  EXPECT_EQ(BerthJson({"inspect", "web"}).value("status", ""), "exited");
  EXPECT_EQ(Berth({"start", "web"}).code, 0);
  ASSERT_TRUE(WaitForStatus("web", "running"));
  auto busy = Berth({"rm", "web"});
  EXPECT_EQ(busy.code, 1);
  EXPECT_NE(busy.text.find("is running"), std::string::npos) << busy.text;
  ASSERT_EQ(Berth({"rm", "--force", "web"}).code, 0);
  EXPECT_EQ(Berth({"ps", "-a"}).text.find("web"), std::string::npos);
  EXPECT_FALSE(fs::exists(data_ + "/agent/containers/" + id));
  auto unknown = Berth({"logs", "web"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_NE(unknown.text.find("no container web"), std::string::npos) << unknown.text;
}

TEST_F(AgentE2E, RestartPolicyAndOomKill) {
  StartBerthd();
  BuildImage("e2e/app:1");
  ASSERT_EQ(Berth({"run", "--name", "flaky", "--network", "none", "--restart", "on-failure",
                   "e2e/app:1", "--", "/bin/sh", "-c", "echo attempt; exit 3"})
                .code,
            0);
  // Between two runs (a running one has no exit code yet).
  Json flaky;
  ASSERT_TRUE(WaitFor(
      [&] {
        flaky = BerthJson({"inspect", "flaky"});
        return flaky.value("restart_count", 0) >= 2 && flaky.value("status", "") == "restarting";
      },
      std::chrono::seconds(60), std::chrono::milliseconds(100)))
      << flaky.dump();
  EXPECT_EQ(flaky.value("exit_code", 0), 3) << flaky.dump();
  auto ps = Berth({"ps", "-a"});
  EXPECT_NE(ps.text.find("flaky"), std::string::npos) << ps.text;

  ASSERT_EQ(Berth({"run", "--name", "done", "--network", "none", "--restart", "on-failure",
                   "e2e/app:1", "--", "/bin/echo", "fine"})
                .code,
            0);
  ASSERT_TRUE(WaitForStatus("done", "exited"));
  EXPECT_EQ(BerthJson({"inspect", "done"}).value("restart_count", -1), 0);

  ASSERT_EQ(Berth({"run", "--name", "hog", "--network", "none", "--memory", "32m", "e2e/app:1",
                   "--", "/probe", "hog"})
                .code,
            0);
  ASSERT_TRUE(WaitForStatus("hog", "exited"));
  ps = Berth({"ps", "-a"});
  EXPECT_NE(ps.text.find("exited (137) oom-killed"), std::string::npos) << ps.text;

  // Bad run requests get one clear line and create nothing.
  auto bad_port = Berth({"run", "-p", "99999:80", "e2e/app:1", "--", "/bin/true"});
  EXPECT_EQ(bad_port.code, 1);
  EXPECT_NE(bad_port.text.find("port \"99999:80\""), std::string::npos) << bad_port.text;
  auto no_image = Berth({"run", "no/such:image", "--", "/bin/true"});
  EXPECT_EQ(no_image.code, 1);
  EXPECT_TRUE(no_image.text.starts_with("error: HTTP 404")) << no_image.text;
  auto bad_restart = Berth({"run", "--restart", "sometimes", "e2e/app:1", "--", "/bin/true"});
  EXPECT_EQ(bad_restart.code, 1);
  EXPECT_NE(bad_restart.text.find("always|on-failure|never"), std::string::npos);
  EXPECT_EQ(BerthJson({"ps", "-a"})["containers"].size(), 3u);
}

TEST_F(AgentE2E, PrivilegedAndAddedCapabilitiesNeedAdmin) {
  StartBerthd();
  BuildImage("e2e/app:1");
  auto created = Berth({"token", "create", "--role", "operator", "--name", "ops"});
  ASSERT_EQ(created.code, 0) << created.text;
  std::string op = created.text.substr(0, created.text.find('\n'));

  for (auto flags :
       std::vector<std::vector<std::string>>{{"--privileged"}, {"--cap-add", "NET_ADMIN"}}) {
    std::vector<std::string> args = {"run", "--network", "none"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.insert(args.end(), {"e2e/app:1", "--", "/probe", "status"});
    auto r = Berth(args, op);
    EXPECT_EQ(r.code, 1) << flags[0];
    EXPECT_EQ(r.text,
              "error: HTTP 403: privileged containers and added capabilities need the admin "
              "role; use a token with role admin (an admin makes one with `berth token create "
              "--role admin`) and `berth login` with it\n");
  }
  auto raw = Api("POST", "/v1/containers",
                 Json{{"image", "e2e/app:1"}, {"privileged", true}, {"cmd", {"/bin/true"}}}, op);
  ASSERT_TRUE(raw) << raw.error().message;
  EXPECT_EQ(raw->status, 403);
  auto err = ParseJson(raw->body);
  ASSERT_TRUE(err) << raw->body;
  EXPECT_EQ((*err)["error"].value("code", ""), "permission_denied") << raw->body;
  EXPECT_EQ(BerthJson({"ps", "-a"})["containers"].size(), 0u) << "a refused run left a container";
  // Importing and building images on the node is the admin's too.
  auto imp = Berth({"image", "import", "/nonexistent.tar"}, op);
  EXPECT_EQ(imp.code, 1);
  EXPECT_TRUE(imp.text.starts_with("error: HTTP 403")) << imp.text;

  // The operator runs the default profile.
  ASSERT_EQ(
      Berth({"run", "--name", "plain", "--network", "none", "e2e/app:1", "--", "/probe", "status"},
            op)
          .code,
      0);
  ASSERT_TRUE(WaitForLog("plain", "CapEff"));
  EXPECT_NE(Logs("plain").find("CapEff:\t00000000a80405fb"), std::string::npos) << Logs("plain");

  // The admin may add a capability, or lift the profile.
  ASSERT_EQ(Berth({"run", "--name", "netadmin", "--network", "none", "--cap-add", "NET_ADMIN",
                   "e2e/app:1", "--", "/probe", "status"})
                .code,
            0);
  ASSERT_TRUE(WaitForLog("netadmin", "CapEff"));
  EXPECT_NE(Logs("netadmin").find("CapEff:\t00000000a80415fb"), std::string::npos)
      << Logs("netadmin");
  ASSERT_EQ(Berth({"run", "--name", "priv", "--network", "none", "--privileged", "e2e/app:1", "--",
                   "/probe", "status"})
                .code,
            0);
  ASSERT_TRUE(WaitForLog("priv", "CapEff"));
  // Every capability the node itself holds (this sandbox lacks CAP_SYS_RESOURCE, say).
  std::string host_bnd;
  {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
      if (line.starts_with("CapBnd:")) host_bnd = line.substr(7);
  }
  EXPECT_NE(Logs("priv").find("CapEff:" + host_bnd), std::string::npos)
      << Logs("priv") << " host CapBnd:" << host_bnd;
  // The audit trail names the refused calls.
  auto audit = Berth({"audit", "ls"});
  EXPECT_NE(audit.text.find("POST /v1/containers"), std::string::npos) << audit.text;
}

TEST_F(AgentE2E, CrunIsHonouredWhenSelected) {
  StartBerthd({"--runtime", "crun"});
  EXPECT_TRUE(WaitFor([&] {
    return berthd_->Logs().find("agent runtime crun") != std::string::npos;
  })) << berthd_->Logs();
  BuildImage("e2e/app:1");
  ASSERT_EQ(Berth({"run", "--name", "c", "--network", "none", "--memory", "64m", "e2e/app:1", "--",
                   "/bin/sh", "-c", "/probe status; exec sleep 1000"})
                .code,
            0);
  ASSERT_TRUE(WaitForLog("c", "CapEff"));
  std::string logs = Logs("c");
  EXPECT_NE(logs.find("Seccomp:\t2"), std::string::npos) << logs;
  EXPECT_NE(logs.find("NoNewPrivs:\t1"), std::string::npos) << logs;
  std::string id = ContainerId("c");
  // crun's state root holds it; runc's does not.
  EXPECT_TRUE(fs::exists(data_ + "/agent/crun/" + id));
  EXPECT_FALSE(fs::exists(data_ + "/agent/runc/" + id));
  auto exec = Berth({"exec", "c", "--", "/bin/cat", "/etc/hostname"});
  EXPECT_EQ(exec.text, "c\n");
  ASSERT_EQ(Berth({"stop", "-t", "1", "c"}).code, 0);
  EXPECT_FALSE(fs::exists(data_ + "/agent/crun/" + id));
}

TEST_F(AgentE2E, RuncIsTheDefault) {
  StartBerthd();
  EXPECT_TRUE(WaitFor([&] {
    return berthd_->Logs().find("agent runtime runc") != std::string::npos;
  })) << berthd_->Logs();
  BuildImage("e2e/app:1");
  ASSERT_EQ(
      Berth({"run", "--name", "r", "--network", "none", "e2e/app:1", "--", "/bin/sleep", "1000"})
          .code,
      0);
  ASSERT_TRUE(WaitForStatus("r", "running"));
  EXPECT_TRUE(fs::exists(data_ + "/agent/runc/" + ContainerId("r")));
}

}  // namespace
}  // namespace berth::testing
