// OpenStore: picks the back-end named by the URL.
#include <fmt/core.h>

#include <filesystem>

#include "store/etcd/etcd_store.h"
#include "store/sqlite/sqlite_store.h"
#include "store/store.h"

namespace berth::store {

Result<std::unique_ptr<Store>> OpenStore(const StoreOptions& options) {
  std::string_view url = options.url;
  if (options.clock == nullptr) return Fail(ErrorCode::kInvalidArgument, "OpenStore needs a clock");
  if (url.empty() || url == "sqlite") {
    if (options.data_dir.empty()) {
      return Fail(ErrorCode::kInvalidArgument, "store \"sqlite\" needs a data directory");
    }
    return OpenSqliteStore(options.data_dir + "/store.db", {}, *options.clock);
  }
  if (url.starts_with("sqlite://")) {
    std::string path(url.substr(9));
    if (path.empty() || path[0] != '/') {
      return Fail(
          ErrorCode::kInvalidArgument,
          fmt::format("store URL \"{}\" needs an absolute path: sqlite:///var/lib/db", url));
    }
    return OpenSqliteStore(path, {}, *options.clock);
  }
  if (url.starts_with("etcd://")) {
    std::vector<std::string> endpoints;
    std::string_view rest = url.substr(7);
    while (!rest.empty()) {
      auto comma = rest.find(',');
      auto ep = rest.substr(0, comma);
      if (ep.empty() || ep.find(':') == std::string_view::npos) {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("etcd endpoint \"{}\" in \"{}\" must be host:port", ep, url));
      }
      endpoints.push_back((options.etcd_ca_file.empty() ? "http://" : "https://") +
                          std::string(ep));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    if (endpoints.empty()) {
      return Fail(ErrorCode::kInvalidArgument, "store URL etcd:// names no endpoint");
    }
    if (options.etcd_ca_file.empty() &&
        (!options.etcd_cert_file.empty() || !options.etcd_key_file.empty())) {
      return Fail(ErrorCode::kInvalidArgument,
                  "a client certificate for etcd needs the CA that signs etcd's (--etcd-cacert)");
    }
    EtcdOptions etcd;
    etcd.mirror_uncached = options.uncached_prefixes;
    etcd.tls = {.ca_file = options.etcd_ca_file,
                .cert_file = options.etcd_cert_file,
                .key_file = options.etcd_key_file};
    return OpenEtcdStore(std::move(endpoints), std::move(etcd));
  }
  return Fail(
      ErrorCode::kInvalidArgument,
      fmt::format("unknown store \"{}\": want sqlite, sqlite:///path or etcd://host:port,...",
                  url));
}

}  // namespace berth::store
