#include "agent/image/puller.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "agent/image/digest.h"
#include "agent/internal/sys.h"
#include "core/http/client.h"
#include "core/json.h"

namespace berth::agent::image {
namespace {

constexpr const char* kAccept =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json";

std::string Base64(std::string_view in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// One pull: the registry connection, the token, the download directory.
class Session {
 public:
  Session(const ImageRef& ref, const PullOptions& options, std::string downloads)
      : ref_(ref), options_(options), downloads_(std::move(downloads)) {
    base_ = (options.plain_http ? "http://" : "https://") + ref.registry;
  }

  Result<http::Client*> Client() {
    if (!client_) {
      http::ClientOptions co;
      co.tls_verify = options_.tls_verify;
      co.tls_ca_file = options_.ca_file;
      co.timeout = std::chrono::milliseconds(120000);
      auto c = http::Client::Create(base_, co);
      if (!c) return std::unexpected(c.error());
      client_ = std::move(*c);
    }
    return client_.get();
  }

  // GET with auth: on 401 with a Bearer challenge, fetch a token and retry once.
  Result<http::Response> Get(const std::string& path, http::Headers headers) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto c = Client();
      if (!c) return std::unexpected(c.error());
      http::Request req;
      req.method = "GET";
      req.target = path;
      req.headers = headers;
      if (!token_.empty()) req.headers.Set("Authorization", "Bearer " + token_);
      auto resp = (*c)->Send(req);
      if (!resp) return std::unexpected(resp.error());
      if (resp->status == 401 && attempt == 0) {
        if (auto ok = Authenticate(*resp); !ok) return std::unexpected(ok.error());
        continue;
      }
      return resp;
    }
    return Fail(ErrorCode::kUnauthenticated, "registry " + ref_.registry + " refused the token");
  }

  Result<void> Authenticate(const http::Response& challenge) {
    auto header = challenge.headers.Get("WWW-Authenticate");
    auto params = header ? ParseBearerChallenge(*header) : std::nullopt;
    if (!params || !params->count("realm"))
      return Fail(ErrorCode::kUnauthenticated,
                  "registry " + ref_.registry + " wants authentication without a Bearer challenge");
    std::string url = (*params)["realm"];
    std::string sep = url.find('?') == std::string::npos ? "?" : "&";
    if (params->count("service"))
      url += sep + "service=" + http::PercentEncode((*params)["service"]), sep = "&";
    std::string scope =
        params->count("scope") ? (*params)["scope"] : "repository:" + ref_.repository + ":pull";
    url += sep + "scope=" + http::PercentEncode(scope);
    http::Headers h;
    if (!options_.username.empty())
      h.Set("Authorization", "Basic " + Base64(options_.username + ":" + options_.password));
    http::ClientOptions co;
    co.tls_verify = options_.tls_verify;
    co.tls_ca_file = options_.ca_file;
    auto resp = http::Fetch("GET", url, {}, h, co);
    if (!resp) return std::unexpected(Wrap(resp.error(), "token from " + url));
    if (resp->status != 200)
      return Fail(ErrorCode::kUnauthenticated,
                  "token realm " + url + " answered " + std::to_string(resp->status));
    auto j = ParseJson(resp->body);
    if (!j || !j->is_object())
      return Fail(ErrorCode::kUnauthenticated, "token realm returned no JSON");
    token_ = j->value("token", j->value("access_token", ""));
    if (token_.empty()) return Fail(ErrorCode::kUnauthenticated, "token realm returned no token");
    return {};
  }

  Result<std::string> Manifest(const std::string& reference, std::string* media_type) {
    http::Headers h;
    h.Set("Accept", kAccept);
    auto resp = Get("/v2/" + ref_.repository + "/manifests/" + reference, h);
    if (!resp) return std::unexpected(resp.error());
    if (resp->status == 404)
      return Fail(ErrorCode::kNotFound,
                  "no manifest " + ref_.repository + ":" + reference + " on " + ref_.registry);
    if (resp->status != 200)
      return Fail(ErrorCode::kUnavailable,
                  "manifest " + reference + ": HTTP " + std::to_string(resp->status));
    if (reference.starts_with("sha256:") && DigestOf(resp->body) != reference)
      return Fail(ErrorCode::kInvalidArgument, "manifest has the wrong digest: expected " +
                                                   reference + ", content is " +
                                                   DigestOf(resp->body));
    if (auto d = resp->headers.Get("Docker-Content-Digest");
        d && IsValidDigest(*d) && DigestOf(resp->body) != *d)
      return Fail(ErrorCode::kInvalidArgument,
                  "manifest does not match its Docker-Content-Digest " + std::string(*d));
    *media_type = std::string(resp->headers.Get("Content-Type").value_or(""));
    return resp->body;
  }

  // Downloads one blob into downloads_/<hex>, resuming a partial file with Range.
  Result<void> Blob(const std::string& digest, uint64_t size) {
    if (!IsValidDigest(digest))
      return Fail(ErrorCode::kInvalidArgument, "invalid blob digest " + digest);
    std::string final_path = downloads_ + "/" + std::string(DigestHex(digest));
    if (internal::Exists(final_path)) return {};
    std::string partial = final_path + ".partial";
    for (int attempt = 0; attempt < 5; ++attempt) {
      uint64_t have = FileSize(partial);
      if (size > 0 && have >= size) break;
      auto c = Client();
      if (!c) return std::unexpected(c.error());
      http::Request req;
      req.method = "GET";
      req.target = "/v2/" + ref_.repository + "/blobs/" + digest;
      if (!token_.empty()) req.headers.Set("Authorization", "Bearer " + token_);
      if (have > 0) req.headers.Set("Range", "bytes=" + std::to_string(have) + "-");
      int status = 0;
      std::string location;
      int fd = -1;
      uint64_t done = have;
      auto r = (*c)->Stream(
          req,
          [&](const http::Response& head) {
            status = head.status;
            location = std::string(head.headers.Get("Location").value_or(""));
            if (status == 200) {
              fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
              done = 0;
            } else if (status == 206) {
              fd = ::open(partial.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC, 0600);
            }
          },
          [&](std::string_view data) {
            if (fd < 0) return status >= 300 && status < 400 ? false : true;
            if (::write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size()))
              return false;
            done += data.size();
            if (options_.on_progress) options_.on_progress({digest, done, size});
            return true;
          });
      if (fd >= 0) ::close(fd);
      if (status == 401 && attempt == 0) {
        http::Response challenge;
        auto again = Get("/v2/", {});  // re-challenge to learn the realm
        if (!again) return std::unexpected(again.error());
        continue;
      }
      if (!r) {
        client_.reset();  // the connection broke mid-body: resume on a new one
        continue;
      }
      if (status >= 300 && status < 400 && !location.empty()) {
        auto ok = FetchRedirect(location, partial);
        if (!ok) return ok;
        break;
      }
      if (status == 416) {  // we already have everything the server has
        break;
      }
      if (status != 200 && status != 206)
        return Fail(ErrorCode::kUnavailable, "blob " + digest + ": HTTP " + std::to_string(status));
      if (size == 0 || FileSize(partial) >= size) break;
    }
    auto got = DigestOfFile(partial);
    if (!got) return std::unexpected(got.error());
    if (*got != digest) {
      ::unlink(partial.c_str());
      return Fail(ErrorCode::kInvalidArgument,
                  "blob has the wrong digest: expected " + digest + ", content is " + *got);
    }
    if (::rename(partial.c_str(), final_path.c_str()) != 0)
      return Fail(ErrorCode::kInternal, "rename " + partial + ": " + std::strerror(errno));
    return {};
  }

  Result<void> FetchRedirect(const std::string& url, const std::string& partial) {
    http::ClientOptions co;
    co.tls_verify = options_.tls_verify;
    co.tls_ca_file = options_.ca_file;
    co.max_response_bytes = 64ull << 30;
    auto resp = http::Fetch("GET", url, {}, {}, co);
    if (!resp) return std::unexpected(resp.error());
    if (resp->status != 200)
      return Fail(ErrorCode::kUnavailable, "blob redirect: HTTP " + std::to_string(resp->status));
    return internal::WriteFileAtomic(partial, resp->body, 0600);
  }

 private:
  const ImageRef& ref_;
  const PullOptions& options_;
  std::string downloads_;
  std::string base_;
  std::string token_;
  std::unique_ptr<http::Client> client_;
};

}  // namespace

std::string ImageRef::Name() const {
  if (reference.starts_with("sha256:")) return registry + "/" + repository + "@" + reference;
  return registry + "/" + repository + ":" + reference;
}

Result<ImageRef> ParseImageRef(std::string_view text) {
  std::string s(text);
  for (auto p : {"http://", "https://", "docker://"})
    if (s.starts_with(p)) s = s.substr(std::string_view(p).size());
  if (s.empty()) return Fail(ErrorCode::kInvalidArgument, "empty image reference");
  ImageRef r;
  size_t slash = s.find('/');
  std::string first = slash == std::string::npos ? "" : s.substr(0, slash);
  if (!first.empty() && (first.find('.') != std::string::npos ||
                         first.find(':') != std::string::npos || first == "localhost")) {
    r.registry = first;
    s = s.substr(slash + 1);
  } else {
    r.registry = "registry-1.docker.io";
    if (s.find('/') == std::string::npos) s = "library/" + s;
  }
  if (auto at = s.find('@'); at != std::string::npos) {
    r.reference = s.substr(at + 1);
    s = s.substr(0, at);
    if (!IsValidDigest(r.reference))
      return Fail(ErrorCode::kInvalidArgument, "bad digest in " + std::string(text));
  } else if (auto colon = s.rfind(':');
             colon != std::string::npos && s.find('/', colon) == std::string::npos) {
    r.reference = s.substr(colon + 1);
    s = s.substr(0, colon);
  } else {
    r.reference = "latest";
  }
  for (char ch : s)
    if (!(std::islower(static_cast<unsigned char>(ch)) ||
          std::isdigit(static_cast<unsigned char>(ch)) || ch == '/' || ch == '.' || ch == '_' ||
          ch == '-'))
      return Fail(ErrorCode::kInvalidArgument, "bad repository name in " + std::string(text));
  if (s.empty() || s.find("..") != std::string::npos || s.front() == '/' || s.back() == '/')
    return Fail(ErrorCode::kInvalidArgument, "bad repository name in " + std::string(text));
  r.repository = s;
  return r;
}

std::optional<std::map<std::string, std::string>> ParseBearerChallenge(std::string_view h) {
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  if (h.size() < 7 || !(h.substr(0, 6) == "Bearer" || h.substr(0, 6) == "bearer") || h[6] != ' ')
    return std::nullopt;
  h.remove_prefix(7);
  std::map<std::string, std::string> out;
  size_t i = 0;
  while (i < h.size()) {
    while (i < h.size() && (h[i] == ' ' || h[i] == ',')) ++i;
    size_t eq = h.find('=', i);
    if (eq == std::string_view::npos) break;
    std::string key(h.substr(i, eq - i));
    i = eq + 1;
    std::string value;
    if (i < h.size() && h[i] == '"') {
      ++i;
      while (i < h.size() && h[i] != '"') {
        if (h[i] == '\\' && i + 1 < h.size()) ++i;
        value += h[i++];
      }
      ++i;
    } else {
      while (i < h.size() && h[i] != ',') value += h[i++];
    }
    out[key] = value;
  }
  return out;
}

Result<Image> Puller::Pull(std::string_view text, const PullOptions& options) {
  try {
    return PullUnchecked(text, options);
  } catch (const nlohmann::json::exception& e) {
    return Fail(ErrorCode::kInvalidArgument,
                "pull " + std::string(text) + ": malformed registry JSON: " + e.what());
  }
}

Result<Image> Puller::PullUnchecked(std::string_view text, const PullOptions& options) {
  auto ref = ParseImageRef(text);
  if (!ref) return std::unexpected(ref.error());
  std::string downloads = store_.root() + "/downloads";
  if (auto ok = internal::MakeDirs(downloads, 0700); !ok) return std::unexpected(ok.error());
  Session s(*ref, options, downloads);
  std::string media_type;
  auto manifest = s.Manifest(ref->reference, &media_type);
  if (!manifest) return std::unexpected(Wrap(manifest.error(), "pull " + std::string(text)));
  auto m = ParseJson(*manifest);
  if (!m) return std::unexpected(Wrap(m.error(), "manifest"));
  if (m->contains("manifests")) {  // an index: linux/amd64
    std::string digest;
    for (const auto& d : (*m)["manifests"]) {
      const Json p = d.value("platform", Json::object());
      if (p.value("os", "linux") == "linux" && p.value("architecture", "amd64") == "amd64") {
        digest = d.value("digest", "");
        break;
      }
    }
    if (digest.empty())
      return Fail(ErrorCode::kNotFound, "no linux/amd64 image in " + std::string(text));
    manifest = s.Manifest(digest, &media_type);
    if (!manifest) return std::unexpected(manifest.error());
    m = ParseJson(*manifest);
    if (!m) return std::unexpected(m.error());
  }
  std::vector<std::pair<std::string, uint64_t>> blobs;
  const Json cfg = m->value("config", Json::object());
  blobs.emplace_back(cfg.value("digest", ""), cfg.value("size", uint64_t{0}));
  for (const auto& l : m->value("layers", Json::array()))
    blobs.emplace_back(l.value("digest", ""), l.value("size", uint64_t{0}));
  for (const auto& [digest, size] : blobs)
    if (auto ok = s.Blob(digest, size); !ok)
      return std::unexpected(Wrap(ok.error(), "pull " + std::string(text)));
  std::string name = ref->reference.starts_with("sha256:")
                         ? ref->registry + "/" + ref->repository + ":latest"
                         : ref->Name();
  auto im = store_.AddFromManifest(name, *manifest, downloads);
  for (const auto& [digest, size] : blobs)
    if (IsValidDigest(digest)) ::unlink((downloads + "/" + std::string(DigestHex(digest))).c_str());
  if (!im) return std::unexpected(Wrap(im.error(), "pull " + std::string(text)));
  return im;
}

}  // namespace berth::agent::image
