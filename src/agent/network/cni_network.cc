#include "agent/network/cni_network.h"

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

Result<Attachment> CniNetwork::Attach(const std::string& id,
                                      const std::vector<PortMapping>& ports) {
  const std::string ns = NetnsName(id);
  const std::string netns = "/run/netns/" + ns;
  if (!internal::Exists(netns)) {
    auto r = internal::Run({"ip", "netns", "add", ns});
    if (!r) return std::unexpected(r.error());
    if (r->exit_code != 0)
      return Fail(ErrorCode::kUnavailable, "ip netns add " + ns + ": " + Trim(r->err));
  }
  Attachment att;
  att.netns_path = netns;
  auto undo = [&](const Error& e) {
    (void)Detach(id, ports, att.result);
    return std::unexpected(e);
  };
  auto lo = Exec("loopback", "ADD", id, netns, "lo",
                 Json{{"cniVersion", kCniVersion}, {"name", "lo"}, {"type", "loopback"}}.dump());
  if (!lo) return undo(lo.error());

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
  if (!netns_arg.empty()) {
    (void)Exec("loopback", "DEL", id, netns_arg, "lo",
               Json{{"cniVersion", kCniVersion}, {"name", "lo"}, {"type", "loopback"}}.dump());
    auto r = internal::Run({"ip", "netns", "delete", ns});
    if (r && r->exit_code != 0 && first_error.empty())
      first_error = "ip netns delete: " + Trim(r->err);
  }
  if (!first_error.empty()) return Fail(ErrorCode::kUnavailable, first_error);
  return {};
}

}  // namespace berth::agent::network
