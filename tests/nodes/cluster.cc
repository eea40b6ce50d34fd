#include "tests/nodes/cluster.h"

#include <arpa/inet.h>
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "agent/agent.h"
#include "agent/image/image_store.h"
#include "agent/network/cni_network.h"
#include "agent/runtime/runtime.h"
#include "core/clock.h"
#include "core/http/client.h"
#include "orchestrator/codec.h"
#include "orchestrator/spec.h"

namespace berth::testing {

namespace fs = std::filesystem;
namespace orch = berth::orchestrator;

namespace {

void BuildImages(const std::string& dir) {
  auto store = agent::image::ImageStore::Open(dir + "/images");
  ASSERT_TRUE(store) << store.error().message;
  std::string api = dir + "/ctx-api";
  fs::create_directories(api);
  fs::copy_file(BinaryPath("examples/shop/shop-api"), api + "/shop-api");
  auto a = (*store)->Build(api, {.name = "shop-api:v1", .entrypoint = {"/shop-api"}});
  ASSERT_TRUE(a) << a.error().message;
  std::string busy = dir + "/ctx-busy";
  fs::create_directories(busy + "/bin");
  fs::create_directories(busy + "/tmp");
  fs::copy_file("/bin/busybox", busy + "/bin/busybox");
  for (const char* applet : {"sh", "sleep", "touch", "cat", "rm", "echo", "true", "false", "nc"})
    fs::create_symlink("busybox", busy + "/bin/" + applet);
  auto b = (*store)->Build(busy, {.name = "busy:v1", .cmd = {"/bin/sh"}});
  ASSERT_TRUE(b) << b.error().message;
  fs::remove_all(api);
  fs::remove_all(busy);
}

}  // namespace

orch::ServiceSpec ServiceFromYaml(const std::string& name, const std::string& yaml) {
  std::string text = "name: t\nservices:\n  " + name + ":\n";
  std::string line;
  std::istringstream in(yaml);
  while (std::getline(in, line)) text += "    " + line + "\n";
  auto app = orch::ParseAppYaml(text, "test.yaml");
  EXPECT_TRUE(app) << app.error().message << "\n" << text;
  return app ? app->services.front() : orch::ServiceSpec{};
}

namespace {
// Second octets of 100.<octet>.x.x that some interface here already uses: a crashed run's
// leftover bridge, or another test binary's cluster running now.
std::set<int> OctetsInUse() {
  std::set<int> used;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return used;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    uint32_t a = ntohl(reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr);
    if ((a >> 24) == 100) used.insert(static_cast<int>((a >> 16) & 255));
  }
  ::freeifaddrs(list);
  return used;
}
}  // namespace

Cluster::Cluster() {
  std::random_device rd;
  std::set<int> used = OctetsInUse();
  octet_ = 101 + static_cast<int>(rd() % 20);
  for (int tries = 0; tries < 20 && used.count(octet_); ++tries) octet_ = 101 + (octet_ - 100) % 20;
  tag_ = fmt::format("{:04x}", rd() % 0x10000);
}

Cluster::~Cluster() {
  for (auto& a : agents_) {
    if (a.process) a.process->Stop(std::chrono::seconds(20));
    Cleanup(a);
  }
  for (auto& sv : servers_) {
    if (sv.process) sv.process->Stop();
  }
}

void Cluster::Cleanup(Agent& a) {
  // An Agent over the data directory adopts what is left and removes it.
  SystemClock clock;
  auto images = agent::image::ImageStore::Open(a.dir + "/images");
  auto rt = agent::runtime::MakeRuntime("runc", a.dir + "/agent/runc");
  if (!images || !rt) return;
  agent::network::CniOptions cni;
  cni.bridge = a.bridge;
  cni.subnet = a.subnet;
  cni.ipam_dir = a.dir + "/agent/ipam";
  agent::network::CniNetwork net(cni);
  agent::AgentOptions opts;
  opts.data_dir = a.dir + "/agent";
  opts.shim_path = BinaryPath("src/cmd/berth-shim");
  opts.supervise_thread = false;
  auto ag = agent::Agent::Create(opts, clock, **images, **rt, net);
  if (ag) {
    for (const auto& c : (*ag)->List(true)) (void)(*ag)->Remove(c.id, true);
  }
  std::error_code ec;
  for (const auto& e : fs::directory_iterator((*rt)->StateRoot(), ec))
    (void)(*rt)->Delete(e.path().filename(), true);
  for (const auto& e : fs::directory_iterator(a.dir + "/agent/containers", ec)) {
    ::umount2((e.path() / "bundle/rootfs").c_str(), MNT_DETACH);
    std::string id = e.path().filename();
    if (fs::exists("/run/netns/berth-" + id)) (void)net.Detach(id, {}, "");
  }
  std::string cmd = "ip link delete " + a.bridge + " 2>/dev/null";
  (void)std::system(cmd.c_str());
}

bool Cluster::LaunchServer(Server& sv) {
  sv.process = Process::Start(sv.name, sv.argv);
  if (!sv.process) return false;
  return WaitFor([&] {
    auto r = http::Fetch(
        "GET", fmt::format("http://{}:{}/v1/health", sv.host, sv.port), {}, {},
        {.connect_timeout = std::chrono::seconds(2), .timeout = std::chrono::seconds(5)});
    return r && r->status == 200;
  });
}

bool Cluster::StartServer(const std::string& role, std::vector<std::string> extra) {
  Server& sv = servers_.emplace_back();
  sv.name = "berthd-" + role;
  sv.host = "127.0.0.1";
  sv.port = FreePort();
  std::string data = dir_.MakeSubdir("server");
  // BERTH_SERVER_BINARY runs the control plane from another build (mixing branches by hand).
  const char* other = std::getenv("BERTH_SERVER_BINARY");
  std::string binary = other && *other ? other : BerthdPath();
  sv.argv = {binary,  role,  "--data-dir", data, "--api", "127.0.0.1:" + std::to_string(sv.port),
             "--dns", "none"};
  if (role == "dev") {
    for (const char* f : {"--gateway", "none", "--no-agent"}) sv.argv.push_back(f);
  }
  sv.argv.insert(sv.argv.end(), extra.begin(), extra.end());
  if (!LaunchServer(sv)) return false;
  std::ifstream in(data + "/admin.token");
  std::getline(in, token_);
  return !token_.empty();
}

bool Cluster::StartServers(size_t n, const std::string& store,
                           const std::function<std::vector<std::string>(size_t)>& extra,
                           const std::string& host) {
  const char* other = std::getenv("BERTH_SERVER_BINARY");
  std::string binary = other && *other ? other : BerthdPath();
  for (size_t i = 0; i < n; ++i) {
    Server& sv = servers_.emplace_back();
    sv.name = fmt::format("berthd-server-{}", i);
    sv.host = host;
    sv.port = FreePort();
    std::string data = dir_.MakeSubdir(fmt::format("server-{}", i));
    sv.argv = {
        binary,    "server", "--data-dir", data,  "--api", fmt::format("{}:{}", host, sv.port),
        "--store", store,    "--dns",      "none"};
    if (extra) {
      auto more = extra(i);
      sv.argv.insert(sv.argv.end(), more.begin(), more.end());
    }
    if (!LaunchServer(sv)) return false;
    if (i == 0) {
      std::ifstream in(data + "/admin.token");
      std::getline(in, token_);
      if (token_.empty()) return false;
    }
  }
  return true;
}

void Cluster::KillServer(size_t i) {
  auto& p = servers_.at(i).process;
  if (!p) return;
  p->Kill(SIGKILL);
  p->Wait();
}

bool Cluster::RestartServer(size_t i) {
  KillServer(i);
  return LaunchServer(servers_.at(i));
}

std::string Cluster::Servers() const {
  std::string out;
  for (const auto& sv : servers_) {
    out += fmt::format("{}http://{}:{}", out.empty() ? "" : ",", sv.host, sv.port);
  }
  return out;
}

bool Cluster::StartAgent(size_t i, const std::string& name, std::vector<std::string> extra) {
  if (agents_.size() <= i) agents_.resize(i + 1);
  Agent& a = agents_[i];
  if (a.dir.empty()) {
    a.name = name;
    a.dir = dir_.MakeSubdir("agent-" + name);
    ::chmod(a.dir.c_str(), 0711);
    a.bridge = fmt::format("bn{}{}", tag_, i);
    a.subnet = fmt::format("100.{}.{}.0/24", octet_, i + 1);
    BuildImages(a.dir);
    std::string token = node_tokens_ ? CreateNodeToken(name) : token_;
    if (token.empty()) return false;
    std::ofstream(a.dir + "/token") << token << "\n";
    a.argv = {BerthdPath(),   "agent",  "--server",   Servers(), "--token-file",  a.dir + "/token",
              "--node-name",  name,     "--data-dir", a.dir,     "--subnet",      a.subnet,
              "--bridge",     a.bridge, "--ttl",      "3",       "--drain-pause", "500ms",
              "--stop-grace", "3s"};
    a.argv.insert(a.argv.end(), extra.begin(), extra.end());
  }
  std::vector<std::string> argv = a.prefix;
  argv.insert(argv.end(), a.argv.begin(), a.argv.end());
  a.process = Process::Start("agent-" + name, argv, {.log_path = a.dir + "/agent.log"});
  if (!a.process) return false;
  return WaitFor([&] {
    int status = 0;
    Call("GET", "/v1/nodes/" + name, {}, &status);
    return status == 200;
  });
}

void Cluster::SetAgentPrefix(size_t i, std::vector<std::string> prefix) {
  agents_.at(i).prefix = std::move(prefix);
}

bool Cluster::RestartAgent(size_t i) {
  Agent& a = agents_.at(i);
  if (a.process) {
    a.process->Kill(SIGKILL);
    a.process->Wait();
  }
  return StartAgent(i, a.name);
}

void Cluster::KillAgent(size_t i) {
  auto& p = agents_.at(i).process;
  p->Kill(SIGKILL);
  p->Wait();
}

Json Cluster::Call(std::string_view method, std::string_view path, std::string body, int* status) {
  http::Headers h;
  h.Set("Authorization", "Bearer " + token_);
  if (!body.empty()) h.Set("Content-Type", "application/json");
  auto r = http::FetchFrom(Servers(), method, path, std::move(body), std::move(h));
  if (status) *status = r ? r->status : 0;
  if (!r) return Json();
  auto j = ParseJson(r->body);
  return j ? *j : Json();
}

ToolResult Cluster::Berth(std::vector<std::string> args, Duration timeout) {
  args.insert(args.begin(), BinaryPath("src/cmd/berth"));
  ProcessOptions opts;
  opts.env = {{"BERTH_ADDR", Servers()},
              {"BERTH_TOKEN", token_},
              {"XDG_CONFIG_HOME", dir_.Sub("config")},
              {"HOME", dir_.path()}};
  opts.log_path = dir_.Sub(fmt::format("cli-{}.log", cli_runs_++));
  return RunTool("berth", std::move(args), std::move(opts), timeout);
}

std::string Cluster::WriteFile(const std::string& name, const std::string& text) {
  std::string path = dir_.Sub(name);
  std::ofstream(path) << text;
  return path;
}

Json Cluster::Instances(const std::string& node) {
  Json j = Call("GET", "/v1/nodes/" + node);
  return j.is_object() && j.contains("assignments") ? j["assignments"] : Json::array();
}

std::string Cluster::StateOf(const std::string& node, const std::string& id) {
  for (const auto& a : Instances(node))
    if (a.value("id", "") == id) return a.value("state", "");
  return "";
}

int64_t Cluster::Assign(const std::string& node, const std::string& ns, const std::string& app,
                        const orch::ServiceSpec& spec, const std::string& id) {
  orch::Assignment a;
  a.instance.id = id;
  a.instance.ns = ns;
  a.instance.app = app;
  a.instance.service = spec.name;
  a.instance.node_id = node;
  a.instance.deploy_hash = spec.DeployHash();
  a.instance.spec_hash = spec.SpecHash();
  a.instance.resources = spec.resources;
  a.spec = spec;
  Json j = Call("PUT", "/v1/kv" + orch::AssignmentKey(a.instance),
                Json{{"value", orch::AssignmentToJson(a)}}.dump());
  return j.value("revision", int64_t{0});
}

void Cluster::Unassign(const std::string& node, const std::string& ns, const std::string& app,
                       const std::string& id) {
  Call("DELETE", fmt::format("/v1/kv/nodes/{}/assignments/{}/{}/{}", node, ns, app, id));
}

int Cluster::ShimPid(size_t i, const std::string& name) const {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(agents_.at(i).dir + "/agent/containers", ec)) {
    std::ifstream st(e.path() / "state.json");
    std::stringstream text;
    text << st.rdbuf();
    auto j = ParseJson(text.str());
    if (!j || !j->is_object()) continue;
    if (j->value("name", "") != name) continue;
    return j->value("shim_pid", 0);
  }
  return 0;
}

int Cluster::InitPid(size_t i, const std::string& name) const {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(agents_.at(i).dir + "/agent/containers", ec)) {
    std::ifstream st(e.path() / "state.json");
    std::stringstream text;
    text << st.rdbuf();
    auto j = ParseJson(text.str());
    if (!j || !j->is_object() || j->value("name", "") != name) continue;
    int pid = 0;
    std::ifstream(e.path() / "init.pid") >> pid;
    return pid > 0 ? pid : j->value("pid", 0);
  }
  return 0;
}

std::string Cluster::CreateNodeToken(const std::string& node) {
  int status = 0;
  Json r = Call("POST", "/v1/tokens", Json{{"node", node}}.dump(), &status);
  if (status != 201 || !r.is_object()) return "";
  return r.value("token", "");
}

}  // namespace berth::testing
