#include "agent/network/cni_network.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

#include "agent/internal/sys.h"
#include "core/json.h"

namespace berth::agent::network {
namespace {

constexpr const char* kCniVersion = "1.0.0";

Json PortMappingsJson(const std::vector<PortMapping>& ports) {
  Json out = Json::array();
  for (const auto& p : ports)
    out.push_back({{"hostPort", p.host_port},
                   {"containerPort", p.container_port},
                   {"protocol", p.protocol},
                   {"hostIP", p.host_ip}});
  return out;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// /run/netns as `ip netns` keeps it: a shared mount, so namespaces bound there show up in
// mount namespaces made later (the runtime's, `ip netns exec`'s).
Result<void> PrepareNetnsDir() {
  static std::mutex mu;
  static bool done = false;
  std::lock_guard lock(mu);
  if (done) return {};
  ::mkdir("/run/netns", 0755);
  if (::mount("", "/run/netns", "none", MS_SHARED | MS_REC, nullptr) != 0) {
    if (errno != EINVAL) return Fail(ErrorCode::kUnavailable, Errno("make /run/netns shared"));
    // Not a mount point yet: bind it onto itself first.
    if (::mount("/run/netns", "/run/netns", "none", MS_BIND | MS_REC, nullptr) != 0 ||
        ::mount("", "/run/netns", "none", MS_SHARED | MS_REC, nullptr) != 0)
      return Fail(ErrorCode::kUnavailable, Errno("mount /run/netns"));
  }
  done = true;
  return {};
}

// What `ip netns add` and the CNI loopback plugin do, without executing either: a new
// network namespace (made by a short-lived thread of ours, which unshares only itself),
// bound at `path`, with `lo` up.
Result<void> CreateNetns(const std::string& path) {
  if (auto ok = PrepareNetnsDir(); !ok) return ok;
  int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) return Fail(ErrorCode::kUnavailable, Errno("create " + path));
  ::close(fd);
  std::string error;
  std::thread([&] {
    if (::unshare(CLONE_NEWNET) != 0) {
      error = Errno("unshare a network namespace");
      return;
    }
    if (::mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) != 0) {
      error = Errno("bind the network namespace at " + path);
      return;
    }
    int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (s < 0 || ::ioctl(s, SIOCGIFFLAGS, &ifr) != 0 ||
        (ifr.ifr_flags |= IFF_UP, ::ioctl(s, SIOCSIFFLAGS, &ifr) != 0))
      error = Errno("set lo up");
    if (s >= 0) ::close(s);
  }).join();
  if (!error.empty()) {
    ::umount2(path.c_str(), MNT_DETACH);
    ::unlink(path.c_str());
    return Fail(ErrorCode::kUnavailable, "netns " + path + ": " + error);
  }
  return {};
}

Result<void> DeleteNetns(const std::string& path) {
  if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
    return Fail(ErrorCode::kUnavailable, Errno("unmount " + path));
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return Fail(ErrorCode::kUnavailable, Errno("remove " + path));
  return {};
}

}  // namespace

std::string CniNetwork::ConfigList() const {
  Json ipam = {{"type", "host-local"},
               {"ranges", {{{{"subnet", options_.subnet}}}}},
               {"routes", {{{"dst", "0.0.0.0/0"}}}},
               {"dataDir", options_.ipam_dir}};
  Json plugins = {
      {{"type", "bridge"},
       {"bridge", options_.bridge},
       {"isGateway", true},
       {"ipMasq", false},
       {"hairpinMode", true},
       {"ipam", ipam}},
      {{"type", "portmap"}, {"capabilities", {{"portMappings", true}}}, {"snat", true}},
  };
  return Json{{"cniVersion", kCniVersion}, {"name", options_.name}, {"plugins", plugins}}.dump();
}

Result<std::string> CniNetwork::Exec(const std::string& plugin, const std::string& command,
                                     const std::string& id, const std::string& netns,
                                     const std::string& ifname, const std::string& config) {
  internal::RunOptions opts;
  opts.stdin_data = config;
  opts.env = {"CNI_COMMAND=" + command, "CNI_CONTAINERID=" + id, "CNI_NETNS=" + netns,
              "CNI_IFNAME=" + ifname, "CNI_PATH=" + options_.plugin_dir};
  auto r = internal::Run({options_.plugin_dir + "/" + plugin}, opts);
  if (!r) return std::unexpected(r.error());
  if (r->exit_code != 0) {
    std::string msg = Trim(r->out.empty() ? r->err : r->out);
    if (auto j = ParseJson(r->out); j && j->is_object())
      msg = j->value("msg", msg) + (j->contains("details") ? ": " + j->value("details", "") : "");
    return Fail(ErrorCode::kUnavailable, "cni " + plugin + " " + command + ": " + msg);
  }
  return r->out;
}

Result<std::string> CniNetwork::Namespace(const std::string& id) {
  const std::string netns = "/run/netns/" + NetnsName(id);
  if (!internal::Exists(netns))
    if (auto ok = CreateNetns(netns); !ok) return std::unexpected(ok.error());
  return netns;
}

Result<Attachment> CniNetwork::Attach(const std::string& id,
                                      const std::vector<PortMapping>& ports) {
  auto made = Namespace(id);
  if (!made) return std::unexpected(made.error());
  const std::string netns = *made;
  Attachment att;
  att.netns_path = netns;
  auto undo = [&](const Error& e) {
    (void)Detach(id, ports, att.result);
    return std::unexpected(e);
  };

  auto list = ParseJson(ConfigList());
  Json prev;
  for (const auto& plugin : (*list)["plugins"]) {
    Json conf = plugin;
    conf["cniVersion"] = kCniVersion;
    conf["name"] = options_.name;
    if (!prev.is_null()) conf["prevResult"] = prev;
    if (plugin.contains("capabilities")) {
      if (ports.empty()) continue;  // portmap has nothing to do
      conf.erase("capabilities");
      conf["runtimeConfig"] = {{"portMappings", PortMappingsJson(ports)}};
    }
    auto out = Exec(plugin["type"], "ADD", id, netns, "eth0", conf.dump());
    if (!out) return undo(out.error());
    auto parsed = ParseJson(*out);
    if (!parsed) return undo(Wrap(parsed.error(), "cni result"));
    prev = *parsed;
    att.result = prev.dump();
  }
  for (const auto& ip : prev.value("ips", Json::array())) {
    std::string addr = ip.value("address", "");
    att.ip = addr.substr(0, addr.find('/'));
    att.gateway = ip.value("gateway", "");
    break;
  }
  return att;
}

Result<void> CniNetwork::Detach(const std::string& id, const std::vector<PortMapping>& ports,
                                const std::string& result) {
  const std::string ns = NetnsName(id);
  const std::string netns = "/run/netns/" + ns;
  std::string netns_arg = internal::Exists(netns) ? netns : "";
  auto list = ParseJson(ConfigList());
  Json prev;
  if (!result.empty())
    if (auto p = ParseJson(result)) prev = *p;
  std::string first_error;
  auto& plugins = (*list)["plugins"];
  for (auto it = plugins.rbegin(); it != plugins.rend(); ++it) {
    Json conf = *it;
    conf["cniVersion"] = kCniVersion;
    conf["name"] = options_.name;
    if (!prev.is_null()) conf["prevResult"] = prev;
    if (conf.contains("capabilities")) {
      if (ports.empty()) continue;
      conf.erase("capabilities");
      conf["runtimeConfig"] = {{"portMappings", PortMappingsJson(ports)}};
    }
    auto out = Exec((*it)["type"], "DEL", id, netns_arg, "eth0", conf.dump());
    if (!out && first_error.empty()) first_error = out.error().message;
  }
  if (!netns_arg.empty())
    if (auto ok = DeleteNetns(netns); !ok && first_error.empty()) first_error = ok.error().message;
  if (!first_error.empty()) return Fail(ErrorCode::kUnavailable, first_error);
  return {};
}

}  // namespace berth::agent::network
