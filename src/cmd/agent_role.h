// The node agent's pieces as berthd wires them (both `berthd dev`, whose agent joins its own
// control plane as node "local", and `berthd agent`, which joins a remote one): the image
// store, OCI runtime, CNI network, puller and Agent over one data directory, and the
// NodeAgent that runs the node's assignments on them (with its control-plane client, its
// view of the containers and the node's exec checks).
#pragma once

#include <memory>
#include <string>

#include "agent/agent.h"
#include "agent/image/image_store.h"
#include "agent/image/puller.h"
#include "agent/logship/shipper.h"
#include "agent/network/cni_network.h"
#include "agent/node/agent_containers.h"
#include "agent/node/control_client.h"
#include "agent/node/node_agent.h"
#include "agent/node/node_checks.h"
#include "agent/runtime/runtime.h"
#include "core/clock.h"
#include "core/error.h"

namespace berth {

struct AgentPartsOptions {
  std::string data_dir;  // images/ and agent/ under it
  std::string runtime = "runc";
  std::string subnet = "100.64.0.0/16";
  std::string bridge = "berth0";
};

// The node agent and what it owns, in construction order; destroy in reverse
// (node_agent first).
struct AgentParts {
  std::unique_ptr<agent::image::ImageStore> images;
  std::unique_ptr<agent::runtime::Runtime> runtime;
  std::unique_ptr<agent::network::CniNetwork> network;
  std::unique_ptr<agent::image::Puller> puller;
  std::unique_ptr<agent::Agent> agent;
  std::unique_ptr<agent::node::ControlClient> control;
  std::unique_ptr<agent::node::AgentContainers> containers;
  std::unique_ptr<agent::node::NodeChecks> checks;
  std::unique_ptr<agent::node::NodeAgent> node_agent;
  std::unique_ptr<agent::logship::LogShipper> log_shipper;

  AgentParts() = default;
  AgentParts(AgentParts&&) = default;
  AgentParts& operator=(AgentParts&&) = default;
  ~AgentParts() { Reset(); }
  void Reset() {
    log_shipper.reset();
    node_agent.reset();
    checks.reset();  // kills running check commands
    containers.reset();
    control.reset();
    agent.reset();
    puller.reset();
    network.reset();
    runtime.reset();
    images.reset();
  }
};

// Opens the image store and runtime and creates the Agent (which adopts running
// containers); no NodeAgent yet.
Result<AgentParts> StartAgentParts(const AgentPartsOptions& options, Clock& clock);

// Where the node agent joins: the control plane's API ("http://127.0.0.1:7700") and its
// token (operator, admin or the node's).
struct NodeJoin {
  std::string server;  // one, or several comma-separated (calls fail over)
  std::string token;
  http::ClientOptions tls;  // CA (and client certificate) for https servers
};

// Ships every container's output of `parts` (labels from the node agent's instances when it
// has one) to the log center's push API at `join`'s servers with its token, its state under
// <data_dir>/agent/logs. Call once `parts` is where it stays (the shipper keeps a pointer).
Result<std::unique_ptr<agent::logship::LogShipper>> StartLogShipper(AgentParts& parts,
                                                                    const NodeJoin& join,
                                                                    const std::string& node,
                                                                    const std::string& data_dir,
                                                                    Clock& clock);

// Starts the node's exec checks (NodeChecks) and its NodeAgent on `parts`, both over a
// ControlClient to `join` and AgentContainers over the parts' Agent.
Result<void> StartNodeAgent(AgentParts& parts, const NodeJoin& join,
                            agent::node::NodeAgentOptions options, Clock& clock);

struct AgentRoleFlags {
  std::string server;  // one or several comma-separated
  std::string ca_file;
  std::string tls_cert;
  std::string tls_key;
  std::string token;
  std::string token_file;
  std::string node;
  std::string labels;    // k=v,...
  std::string capacity;  // cpu=2,memory=4Gi,pids=4096 (each optional)
  std::string data_dir;
  std::string runtime = "runc";
  std::string subnet = "100.64.0.0/16";
  std::string bridge = "berth0";
  std::string address = "127.0.0.1";
  std::string gateway_url;
  int64_t ttl_seconds = 10;
  std::string drain_pause = "2s";
  std::string stop_grace = "10s";
  std::string log_level = "info";
  bool log_json = false;
};

// `berthd agent`: runs until SIGTERM/SIGINT; returns the exit code.
int RunAgentRole(const AgentRoleFlags& flags, const std::string& default_data_dir);

}  // namespace berth
