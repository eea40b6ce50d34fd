// A real cluster on this machine for the orchestrator's node tests and the chaos suite:
// `berthd server` (or dev --no-agent), or several servers over one etcd (StartServers), and
// N `berthd agent` processes (joined to every server: they fail over), each with its own data
// directory, Linux bridge and /24 of 100.<101..120>.<i>.0 (random per test process, skipping second
// octets an interface already uses, so test binaries can run side by side), and with the test
// images built into its image store before it starts:
//   shop-api:v1  the demo's API (static; GET /healthz, /products; $PORT)
//   busy:v1      busybox-static with sh, sleep, touch, cat (cmd /bin/sh)
// `Berth(...)` runs the CLI against the server. Assignments can be written straight into the store
// (as the reconciler writes them) for tests that run without a controller. The destructor stops
// every process, removes the containers the agents left running (containers outlive their agent by
// design) and the bridges.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/json.h"
#include "harness/harness.h"
#include "orchestrator/types.h"

namespace berth::testing {

class Cluster {
 public:
  Cluster();
  ~Cluster();

  // Starts the control plane: `berthd <role>` with `extra` flags.
  bool StartServer(const std::string& role = "server", std::vector<std::string> extra = {});
  // Starts `n` `berthd server` over the etcd at `store` ("etcd://h:p,..."), their APIs on
  // `host` (127.0.0.1, or an address a network namespace reaches), each with the flags
  // `extra(i)` adds; server 0 first (it makes the admin token). Agents started afterwards get
  // every server's address.
  bool StartServers(size_t n, const std::string& store,
                    const std::function<std::vector<std::string>(size_t)>& extra = {},
                    const std::string& host = "127.0.0.1");
  size_t server_count() const { return servers_.size(); }
  Process& server(size_t i) { return *servers_.at(i).process; }
  int port(size_t i) const { return servers_.at(i).port; }
  // SIGKILLs server i (its data directory stays); RestartServer starts it again with the same
  // flags and waits until it answers.
  void KillServer(size_t i);
  bool RestartServer(size_t i);
  // "http://h:p0,http://h:p1,...": every server (the API client fails over between them).
  std::string Servers() const;
  // Starts agent `i` as node `name` (first time: builds its images).
  bool StartAgent(size_t i, const std::string& name, std::vector<std::string> extra = {});
  Process& agent(size_t i) { return *agents_.at(i).process; }
  Process& server() { return *servers_.at(0).process; }
  void KillAgent(size_t i);  // SIGKILL; the containers keep running

  // One API call with the admin token; the parsed body (status in *status).
  Json Call(std::string_view method, std::string_view path, std::string body = {},
            int* status = nullptr);
  int port() const { return servers_.at(0).port; }
  // Runs the `berth` CLI against the servers (BERTH_ADDR, BERTH_TOKEN set), to completion.
  ToolResult Berth(std::vector<std::string> args, Duration timeout = kDefaultTimeout);
  // Writes `text` to a file in the cluster's temp dir; its path.
  std::string WriteFile(const std::string& name, const std::string& text);
  const TempDir& dir() const { return dir_; }
  const std::string& token() const { return token_; }
  std::string agent_dir(size_t i) const { return agents_.at(i).dir; }
  // Runs agent i's process with `prefix` before its argv from its next (re)start on, e.g.
  // {"ip", "netns", "exec", "ns1"} to start it inside a network namespace.
  void SetAgentPrefix(size_t i, std::vector<std::string> prefix);
  bool RestartAgent(size_t i);

  // The node's assignments with their reported state (GET /v1/nodes/{node}).
  Json Instances(const std::string& node);
  // The reported state of one instance on a node, "" when absent.
  std::string StateOf(const std::string& node, const std::string& id);
  // Writes the assignment of `spec` (service `service` of an app in `ns`/`app`) for
  // instance `id` on `node`, as the reconciler does.
  int64_t Assign(const std::string& node, const std::string& ns, const std::string& app,
                 const orchestrator::ServiceSpec& spec, const std::string& id);
  void Unassign(const std::string& node, const std::string& ns, const std::string& app,
                const std::string& id);
  // Shim pid of the container named `name` in agent i's data dir (0: none).
  int ShimPid(size_t i, const std::string& name) const;
  // Pid of the container's init process (its <container>/init.pid; 0: none). Its
  // /proc/<pid>/root is the container's root file system as the container sees it.
  int InitPid(size_t i, const std::string& name) const;
  // Agents started from now on authenticate with a token bound to their node (POST /v1/tokens
  // {"node"}) rather than the admin token.
  void UseNodeTokens(bool on = true) { node_tokens_ = on; }
  // A new token bound to `node` ("" when the server refused).
  std::string CreateNodeToken(const std::string& node);

 private:
  struct Agent {
    std::string dir, bridge, subnet, name;
    std::vector<std::string> argv;
    std::vector<std::string> prefix;  // run the argv through this (ip netns exec ...)
    std::unique_ptr<Process> process;
  };
  struct Server {
    std::string name, host;
    std::vector<std::string> argv;
    int port = 0;
    std::unique_ptr<Process> process;
  };
  void Cleanup(Agent& a);
  bool LaunchServer(Server& s);

  TempDir dir_{"berth-cluster"};
  std::vector<Server> servers_;
  std::string token_;
  int octet_ = 101;
  std::string tag_;
  int cli_runs_ = 0;
  bool node_tokens_ = false;
  std::vector<Agent> agents_;
};

// A service spec from YAML (the body of one service in an app spec), validated.
orchestrator::ServiceSpec ServiceFromYaml(const std::string& name, const std::string& yaml);

}  // namespace berth::testing
