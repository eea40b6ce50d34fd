// Secrets: small values (passwords, API keys, certificates) kept encrypted at rest in the
// store, Vault-style envelope encryption with OpenSSL's AES-256-GCM:
//   - every version of a secret has its own random 256-bit data key; the value is sealed with
//     it (AAD: namespace, name and version, so a ciphertext moved to another key fails);
//   - the data key is stored wrapped (sealed) by the master key, named by its id;
//   - the master key lives in `<data-dir>/secrets/master.keys` (0600, made on first use), or
//     comes from a file or BERTH_SECRETS_KEY (64 hex digits); `RotateKey` makes a new master
//     key and re-wraps every data key (the old key stays in the key file until all are done,
//     so a crash midway loses nothing).
// The plaintext never goes into the store, errors or logs; callers (the API) decide who may
// read it. Store layout (JSON):
//   /config/secrets/<ns>/<name>                     the head: the newest version, sealed
//   /config/secret-versions/<ns>/<name>/<%010d>     every kept version (last 10), sealed
// Thread-safety: SecretStore may be called from any thread (the key ring has its own lock).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "config/config_center.h"
#include "core/clock.h"
#include "core/error.h"
#include "store/store.h"

namespace berth::config {

inline constexpr size_t kSecretKeyBytes = 32;
inline constexpr int64_t kMaxSecretBytes = 64 * 1024;
inline constexpr int64_t kSecretVersionsKept = 10;
inline constexpr std::string_view kSecretsPrefix = "/config/secrets/";
inline constexpr std::string_view kSecretVersionsPrefix = "/config/secret-versions/";

std::string SecretKey(std::string_view ns, std::string_view name);
std::string SecretVersionKey(std::string_view ns, std::string_view name, int64_t version);

// AES-256-GCM: 12-byte random nonce || ciphertext || 16-byte tag. Open fails (kDataLoss) on
// any change of the sealed bytes, the key or `aad`; its error never carries the plaintext.
Result<std::string> Seal(std::string_view key, std::string_view plaintext, std::string_view aad);
Result<std::string> Open(std::string_view key, std::string_view sealed, std::string_view aad);

// The master keys: id (16 hex digits of the key's SHA-256) -> key bytes.
struct MasterKeys {
  std::map<std::string, std::string> keys;
  std::string current;
  std::string path;    // the key file RotateKey rewrites; empty: given by file/env, read-only
  std::string source;  // "<path>", "--secrets-key-file <path>", "BERTH_SECRETS_KEY"
};
// `env` (BERTH_SECRETS_KEY's value) first, then `key_file`, else `<data_dir>/secrets/
// master.keys` (created with a new random key when absent).
Result<MasterKeys> LoadMasterKeys(const std::string& data_dir, const std::string& key_file,
                                  const std::string& env);

// What is shown about a secret (never its value).
struct SecretInfo {
  std::string ns;
  std::string name;
  int64_t version = 0;
  int64_t size = 0;
  std::string key_id;  // the master key that wraps its data key
  int64_t created_ms = 0;
  std::string created_by;
  int64_t updated_ms = 0;
  std::string updated_by;
  int64_t mod_revision = 0;
};

struct RotateResult {
  std::string old_key;
  std::string new_key;
  int64_t rewrapped = 0;  // records re-wrapped
};

class SecretStore {
 public:
  // `center` answers whether the namespace exists (config namespaces are secrets' too).
  SecretStore(store::Store& store, Clock& clock, ConfigCenter& center, MasterKeys keys);

  // A new version (1..) with `value`; kInvalidArgument for an empty or oversized value.
  Result<SecretInfo> Set(std::string_view ns, std::string_view name, std::string_view value,
                         const Caller& caller);
  // The plaintext of `version` (0: the newest).
  Result<std::string> Reveal(std::string_view ns, std::string_view name, int64_t version = 0);
  Result<SecretInfo> Get(std::string_view ns, std::string_view name);
  Result<std::vector<SecretInfo>> List(std::string_view ns);
  Result<std::vector<SecretInfo>> History(std::string_view ns, std::string_view name);
  Result<int64_t> Delete(std::string_view ns, std::string_view name);
  // A new master key; every wrapped data key re-wrapped with it; the old key dropped after.
  Result<RotateResult> RotateKey();
  std::string CurrentKeyId() const;

 private:
  Result<std::string> Unwrap(const std::string& key_id, std::string_view wrapped,
                             std::string_view aad) const;
  Result<void> SaveKeys(const MasterKeys& keys);
  // One pass re-wrapping every record not under `key_id`; the records it could not (a
  // concurrent write) are counted in the result.
  Result<int64_t> Rewrap(const std::string& key_id, const std::string& key, int64_t& rewrapped);

  store::Store& store_;
  Clock& clock_;
  ConfigCenter& center_;
  mutable std::mutex mu_;
  MasterKeys keys_;             // guarded by mu_
  std::string unusable_;        // guarded by mu_; why the key file could not be written
  std::shared_mutex write_mu_;  // Set holds it shared; a rotation's key switch exclusive
  std::mutex rotate_mu_;        // one rotation at a time
};

}  // namespace berth::config
