// The CLI's config file: one context per server (name, address, token, default namespace) and
// the current one, as `berth login` and `berth context use|rm` write it. Read by
// Context::Resolve and by `berth context ...`; kubectl's contexts in one small JSON file:
//
//   {"current": "prod", "contexts": [{"name": "prod", "addr": "https://10.0.0.1:7700",
//                                     "token": "berth_...", "namespace": "shop"}]}
//
// The file of older versions, {"addr": ..., "token": ...}, reads as one context named after
// its address. Thread-safety: plain values and functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace berth::cli {

struct SavedContext {
  std::string name;
  std::string addr;  // normalized: scheme://host:port, no trailing '/'
  std::string token;
  std::string ns;  // default namespace; empty: "default"
};

struct Config {
  std::string current;  // a context's name, or empty
  std::vector<SavedContext> contexts;

  const SavedContext* Find(std::string_view name) const;
  SavedContext* Find(std::string_view name);
  // The context for a server address: the current one if it has that address, else the first.
  const SavedContext* ForAddr(std::string_view addr) const;
  // The names, comma-separated, for error messages ("a, b" or "none").
  std::string Names() const;
};

// $XDG_CONFIG_HOME/berth/config.json, else ~/.config/berth/config.json.
std::string ConfigPath();
// Reads the config; a missing file is an empty config. A file that is not a valid config
// fails naming the file and the field, and saying to fix or remove it.
Result<Config> LoadConfig(const std::string& path);
// Writes the config atomically (temporary file and rename), mode 0600.
Result<void> SaveConfig(const std::string& path, const Config& config);

// "127.0.0.1:7700" -> "http://127.0.0.1:7700"; trailing slashes removed.
std::string NormalizeAddr(std::string addr);
// A context name for an address: its host:port ("https://a.example:7700/" -> "a.example:7700").
std::string ContextNameFor(std::string_view addr);

}  // namespace berth::cli
