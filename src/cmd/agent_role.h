// The node agent's pieces as berthd wires them (both `berthd dev`, whose agent joins its own
// control plane as node "local", and `berthd agent`, which joins a remote one): the image
// store, OCI runtime, CNI network, puller and Agent over one data directory, and the
// NodeAgent that runs the node's assignments on them.
#pragma once

#include <memory>
#include <string>

#include "agent/agent.h"
#include "agent/image/image_store.h"
#include "agent/image/puller.h"
#include "agent/network/cni_network.h"
#include "agent/node/node_agent.h"
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
  std::unique_ptr<agent::node::NodeAgent> node_agent;

  AgentParts() = default;
  AgentParts(AgentParts&&) = default;
  AgentParts& operator=(AgentParts&&) = default;
  ~AgentParts() { Reset(); }
  void Reset() {
    node_agent.reset();
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
