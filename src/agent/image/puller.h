// Pulls images from an OCI distribution registry (Docker Registry HTTP API v2) into the
// ImageStore: manifest (an index or manifest list resolves to linux/amd64), config and
// layers, over HTTP or HTTPS, with bearer-token auth when the registry answers 401 with
// `WWW-Authenticate: Bearer realm=...,service=...,scope=...` (basic credentials, if
// given, are sent to the token realm). Blobs download into <store>/downloads/<hex>.partial
// and resume with a Range request after an interrupted transfer; every blob is
// sha256-verified before the store sees it, and the store commits all or nothing.
// Thread-safety: a Puller may be used from several threads (each Pull has its own
// connections); the store serializes commits.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "agent/image/image_store.h"
#include "core/error.h"

namespace berth::agent::image {

// "registry:5000/team/app:1.2" or ".../app@sha256:..."; Docker Hub names get its host.
struct ImageRef {
  std::string registry;      // "127.0.0.1:5000"
  std::string repository;    // "team/app"
  std::string reference;     // tag or digest
  std::string Name() const;  // "registry/repository:tag" as the store names it
};
Result<ImageRef> ParseImageRef(std::string_view ref);

// The parameters of a `WWW-Authenticate: Bearer ...` challenge; nullopt when not Bearer.
std::optional<std::map<std::string, std::string>> ParseBearerChallenge(std::string_view header);

struct PullProgress {
  std::string digest;
  uint64_t done = 0;
  uint64_t total = 0;
};

struct PullOptions {
  bool plain_http = false;  // http:// instead of https://
  bool tls_verify = true;
  std::string ca_file;
  std::string username;
  std::string password;
  std::function<void(const PullProgress&)> on_progress;
};

class Puller {
 public:
  explicit Puller(ImageStore& store) : store_(store) {}
  Result<Image> Pull(std::string_view ref, const PullOptions& options = {});

 private:
  Result<Image> PullUnchecked(std::string_view ref, const PullOptions& options);
  ImageStore& store_;
};

}  // namespace berth::agent::image
