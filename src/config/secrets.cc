#include "config/secrets.h"

#include <fmt/core.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <shared_mutex>
#include <sstream>

#include "core/json.h"
#include "core/try.h"
#include "security/authz.h"

namespace berth::config {
namespace {

constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

std::string Base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> FromBase64(std::string_view text, std::string_view what) {
  if (text.size() % 4 != 0) {
    return Fail(ErrorCode::kInternal, fmt::format("{} is not base64", what));
  }
  std::string out(3 * text.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return Fail(ErrorCode::kInternal, fmt::format("{} is not base64", what));
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') ++pad;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

Result<std::string> FromHex(std::string_view hex, std::string_view what) {
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() != kSecretKeyBytes * 2) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}: a master key is {} hex digits (256 bits), got {} characters", what,
                            kSecretKeyBytes * 2, hex.size()));
  }
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = digit(hex[i]), lo = digit(hex[i + 1]);
    if (hi < 0 || lo < 0) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("{}: a master key is hex digits only (0-9, a-f)", what));
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    std::abort();  // no randomness: nothing safe to do
  }
  return out;
}

std::string KeyId(std::string_view key) { return Sha256Hex(key).substr(0, 16); }

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

std::string ItemName(std::string_view ns, std::string_view name) {
  return fmt::format("{}/{}", ns, name);
}

std::string ValueAad(std::string_view ns, std::string_view name, int64_t version) {
  return fmt::format("berth-secret:{}/{}@{}", ns, name, version);
}
std::string KeyAad(std::string_view ns, std::string_view name, int64_t version) {
  return fmt::format("berth-secret-key:{}/{}@{}", ns, name, version);
}

// A stored record: the metadata plus the sealed value and wrapped data key.
struct Record {
  SecretInfo info;
  std::string wrapped_key;  // base64
  std::string data;         // base64
};

Json ToJson(const Record& r) {
  return Json{{"version", r.info.version},
              {"size", r.info.size},
              {"key_id", r.info.key_id},
              {"wrapped_key", r.wrapped_key},
              {"data", r.data},
              {"created_ms", r.info.created_ms},
              {"created_by", r.info.created_by},
              {"updated_ms", r.info.updated_ms},
              {"updated_by", r.info.updated_by}};
}

Result<Record> RecordFrom(std::string_view ns, std::string_view name, const store::KeyValue& kv) {
  auto j = ParseJson(kv.value);
  if (!j || !j->is_object()) {
    return Fail(ErrorCode::kInternal,
                fmt::format("secret {}: the stored record is not JSON", ItemName(ns, name)));
  }
  Record r;
  r.info.ns = std::string(ns);
  r.info.name = std::string(name);
  r.info.version = j->value("version", int64_t{0});
  r.info.size = j->value("size", int64_t{0});
  r.info.key_id = j->value("key_id", "");
  r.info.created_ms = j->value("created_ms", int64_t{0});
  r.info.created_by = j->value("created_by", "");
  r.info.updated_ms = j->value("updated_ms", int64_t{0});
  r.info.updated_by = j->value("updated_by", "");
  r.info.mod_revision = kv.mod_revision;
  r.wrapped_key = j->value("wrapped_key", "");
  r.data = j->value("data", "");
  return r;
}

Error NoSecret(std::string_view ns, std::string_view name) {
  return Error(ErrorCode::kNotFound,
               fmt::format("secret {} does not exist (berth secret ls -n {} lists them)",
                           ItemName(ns, name), ns));
}

}  // namespace

std::string SecretKey(std::string_view ns, std::string_view name) {
  return fmt::format("{}{}/{}", kSecretsPrefix, ns, name);
}

std::string SecretVersionKey(std::string_view ns, std::string_view name, int64_t version) {
  return fmt::format("{}{}/{}/{:010d}", kSecretVersionsPrefix, ns, name, version);
}

Result<std::string> Seal(std::string_view key, std::string_view plaintext, std::string_view aad) {
  if (key.size() != kSecretKeyBytes) {
    return Fail(ErrorCode::kInternal, "AES-256-GCM needs a 32-byte key");
  }
  CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  std::string out = RandomBytes(kNonceBytes);
  out.resize(kNonceBytes + plaintext.size() + kTagBytes);
  auto* u = reinterpret_cast<unsigned char*>(out.data());
  int len = 0;
  bool ok = ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) &&
            EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr,
                               reinterpret_cast<const unsigned char*>(key.data()), u) &&
            EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                              reinterpret_cast<const unsigned char*>(aad.data()),
                              static_cast<int>(aad.size())) &&
            EVP_EncryptUpdate(ctx.get(), u + kNonceBytes, &len,
                              reinterpret_cast<const unsigned char*>(plaintext.data()),
                              static_cast<int>(plaintext.size())) &&
            EVP_EncryptFinal_ex(ctx.get(), u + kNonceBytes + len, &len) &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes,
                                u + kNonceBytes + plaintext.size());
  if (!ok) return Fail(ErrorCode::kInternal, "AES-256-GCM encryption failed (OpenSSL)");
  return out;
}

Result<std::string> Open(std::string_view key, std::string_view sealed, std::string_view aad) {
  if (key.size() != kSecretKeyBytes) {
    return Fail(ErrorCode::kInternal, "AES-256-GCM needs a 32-byte key");
  }
  if (sealed.size() < kNonceBytes + kTagBytes) {
    return Fail(ErrorCode::kInternal, "sealed value is too short to be AES-256-GCM");
  }
  const size_t n = sealed.size() - kNonceBytes - kTagBytes;
  const auto* in = reinterpret_cast<const unsigned char*>(sealed.data());
  std::string out(n, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  int len = 0;
  std::string tag(sealed.substr(kNonceBytes + n));
  bool ok = ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) &&
            EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr,
                               reinterpret_cast<const unsigned char*>(key.data()), in) &&
            EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                              reinterpret_cast<const unsigned char*>(aad.data()),
                              static_cast<int>(aad.size())) &&
            EVP_DecryptUpdate(ctx.get(), o, &len, in + kNonceBytes, static_cast<int>(n)) &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) &&
            EVP_DecryptFinal_ex(ctx.get(), o + len, &len) > 0;
  if (!ok) {
    OPENSSL_cleanse(out.data(), out.size());
    return Fail(ErrorCode::kInternal,
                "sealed value failed authentication (wrong key, or changed in the store)");
  }
  return out;
}

Result<MasterKeys> LoadMasterKeys(const std::string& data_dir, const std::string& key_file,
                                  const std::string& env) {
  MasterKeys out;
  auto one = [&out](std::string_view hex, std::string source) -> Result<MasterKeys> {
    std::string key = BERTH_TRY(FromHex(hex, source));
    out.current = KeyId(key);
    out.keys[out.current] = std::move(key);
    out.source = std::move(source);
    return out;
  };
  if (!env.empty()) return one(Trim(env), "BERTH_SECRETS_KEY");
  if (!key_file.empty()) {
    std::ifstream in(key_file);
    if (!in) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("--secrets-key-file {}: cannot read it", key_file));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return one(Trim(ss.str()), "--secrets-key-file " + key_file);
  }
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(data_dir) / "secrets";
  out.path = (dir / "master.keys").string();
  out.source = out.path;
  std::error_code ec;
  if (!fs::exists(out.path, ec)) {
    fs::create_directories(dir, ec);
    ::chmod(dir.c_str(), 0700);
    std::string key = RandomBytes(kSecretKeyBytes);
    out.current = KeyId(key);
    out.keys[out.current] = std::move(key);
    return out;  // written by the SecretStore on first use (SaveKeys)
  }
  std::ifstream in(out.path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = ParseJson(ss.str());
  if (!j || !j->is_object() || !j->contains("current") || !j->contains("keys")) {
    return Fail(ErrorCode::kInternal,
                fmt::format("{}: not a master key file ({{\"current\",\"keys\"}})", out.path));
  }
  out.current = j->value("current", "");
  for (const auto& [id, hex] : (*j)["keys"].items()) {
    if (!hex.is_string()) continue;
    out.keys[id] = BERTH_TRY(FromHex(hex.get<std::string>(), out.path));
  }
  if (!out.keys.contains(out.current)) {
    return Fail(ErrorCode::kInternal,
                fmt::format("{}: the current key {} is not in the file", out.path, out.current));
  }
  return out;
}

SecretStore::SecretStore(store::Store& store, Clock& clock, ConfigCenter& center, MasterKeys keys)
    : store_(store), clock_(clock), center_(center), keys_(std::move(keys)) {
  if (!keys_.path.empty() && !std::filesystem::exists(keys_.path)) {
    if (auto s = SaveKeys(keys_); !s) unusable_ = s.error().message;
  }
}

Result<void> SecretStore::SaveKeys(const MasterKeys& keys) {
  Json j{{"current", keys.current}, {"keys", Json::object()}};
  for (const auto& [id, key] : keys.keys) j["keys"][id] = Hex(key);
  const std::string tmp = keys.path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    ::chmod(tmp.c_str(), 0600);
    out << j.dump() << "\n";
    if (!out.flush()) {
      return Fail(ErrorCode::kInternal, fmt::format("cannot write {}", tmp));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, keys.path, ec);
  if (ec) {
    return Fail(ErrorCode::kInternal,
                fmt::format("cannot rename {} to {}: {}", tmp, keys.path, ec.message()));
  }
  return {};
}

std::string SecretStore::CurrentKeyId() const {
  std::lock_guard lock(mu_);
  return keys_.current;
}

Result<std::string> SecretStore::Unwrap(const std::string& key_id, std::string_view wrapped,
                                        std::string_view aad) const {
  std::string master;
  {
    std::lock_guard lock(mu_);
    auto it = keys_.keys.find(key_id);
    if (it == keys_.keys.end()) {
      return Fail(ErrorCode::kFailedPrecondition,
                  fmt::format("the data key is wrapped by master key {}, which is not in {} "
                              "(was the key file replaced?)",
                              key_id, keys_.source));
    }
    master = it->second;
  }
  std::string sealed = BERTH_TRY(FromBase64(wrapped, "wrapped data key"));
  return Open(master, sealed, aad);
}

Result<SecretInfo> SecretStore::Set(std::string_view ns, std::string_view name,
                                    std::string_view value, const Caller& caller) {
  BERTH_TRY(center_.GetNamespace(ns));
  BERTH_TRY(ValidateItemName(name));
  if (value.empty() || static_cast<int64_t>(value.size()) > kMaxSecretBytes) {
    return Fail(value.empty() ? ErrorCode::kInvalidArgument : ErrorCode::kPayloadTooLarge,
                fmt::format("secret {}: a value is 1 byte to {} KiB, this one is {} bytes",
                            ItemName(ns, name), kMaxSecretBytes / 1024, value.size()));
  }
  for (int attempt = 0; attempt < 16; ++attempt) {
    // Held until the write is done: a key rotation switches keys only between writes.
    std::shared_lock writing(write_mu_);
    auto head = BERTH_TRY(store_.Get(SecretKey(ns, name)));
    Record r;
    int64_t mod = 0;
    if (!head.kvs.empty()) {
      r = BERTH_TRY(RecordFrom(ns, name, head.kvs[0]));
      mod = head.kvs[0].mod_revision;
    } else {
      r.info.ns = std::string(ns);
      r.info.name = std::string(name);
      r.info.created_ms = clock_.WallMillis();
      r.info.created_by = caller.name;
    }
    r.info.version += 1;
    r.info.size = static_cast<int64_t>(value.size());
    r.info.updated_ms = clock_.WallMillis();
    r.info.updated_by = caller.name;
    std::string master;
    {
      std::lock_guard lock(mu_);
      if (!unusable_.empty()) {
        return Fail(ErrorCode::kUnavailable,
                    fmt::format("the master key could not be saved ({}): no secret is stored "
                                "under a key that would be lost at restart",
                                unusable_));
      }
      r.info.key_id = keys_.current;
      master = keys_.keys.at(keys_.current);
    }
    std::string data_key = RandomBytes(kSecretKeyBytes);
    r.data = Base64(BERTH_TRY(Seal(data_key, value, ValueAad(ns, name, r.info.version))));
    r.wrapped_key = Base64(BERTH_TRY(Seal(master, data_key, KeyAad(ns, name, r.info.version))));
    OPENSSL_cleanse(data_key.data(), data_key.size());
    store::TxnRequest txn;
    txn.compare.push_back({.key = SecretKey(ns, name),
                           .target = store::Compare::Target::kModRevision,
                           .op = store::Compare::Op::kEqual,
                           .number = mod});
    const std::string text = ToJson(r).dump();
    txn.success.push_back(store::TxnOp::Put(SecretKey(ns, name), text));
    txn.success.push_back(store::TxnOp::Put(SecretVersionKey(ns, name, r.info.version), text));
    if (r.info.version > kSecretVersionsKept) {
      txn.success.push_back(
          store::TxnOp::Delete(SecretVersionKey(ns, name, r.info.version - kSecretVersionsKept)));
    }
    auto w = BERTH_TRY(store_.Txn(txn));
    if (!w.succeeded) continue;
    r.info.mod_revision = w.revision;
    return r.info;
  }
  return Fail(
      ErrorCode::kUnavailable,
      fmt::format("secret {}: concurrent writes kept conflicting; try again", ItemName(ns, name)));
}

Result<std::string> SecretStore::Reveal(std::string_view ns, std::string_view name,
                                        int64_t version) {
  BERTH_TRY(ValidateItemName(name));
  auto got = BERTH_TRY(
      store_.Get(version > 0 ? SecretVersionKey(ns, name, version) : SecretKey(ns, name)));
  if (got.kvs.empty()) {
    if (version > 0) {
      return Fail(ErrorCode::kNotFound,
                  fmt::format("version {} of secret {} is not kept (the newest {} are)", version,
                              ItemName(ns, name), kSecretVersionsKept));
    }
    return std::unexpected(NoSecret(ns, name));
  }
  Record r = BERTH_TRY(RecordFrom(ns, name, got.kvs[0]));
  std::string data_key =
      BERTH_TRY(Unwrap(r.info.key_id, r.wrapped_key, KeyAad(ns, name, r.info.version)));
  std::string sealed = BERTH_TRY(FromBase64(r.data, "sealed value"));
  auto plain = Open(data_key, sealed, ValueAad(ns, name, r.info.version));
  OPENSSL_cleanse(data_key.data(), data_key.size());
  if (!plain) {
    return Fail(plain.error().code, fmt::format("secret {} version {}: {}", ItemName(ns, name),
                                                r.info.version, plain.error().message));
  }
  return plain;
}

Result<SecretInfo> SecretStore::Get(std::string_view ns, std::string_view name) {
  BERTH_TRY(ValidateItemName(name));
  auto got = BERTH_TRY(store_.Get(SecretKey(ns, name)));
  if (got.kvs.empty()) {
    BERTH_TRY(center_.GetNamespace(ns));
    return std::unexpected(NoSecret(ns, name));
  }
  return BERTH_TRY(RecordFrom(ns, name, got.kvs[0])).info;
}

Result<std::vector<SecretInfo>> SecretStore::List(std::string_view ns) {
  BERTH_TRY(center_.GetNamespace(ns));
  const std::string prefix = fmt::format("{}{}/", kSecretsPrefix, ns);
  auto got = BERTH_TRY(store_.Get(prefix, {.prefix = true}));
  std::vector<SecretInfo> out;
  for (const auto& kv : got.kvs) {
    out.push_back(BERTH_TRY(RecordFrom(ns, kv.key.substr(prefix.size()), kv)).info);
  }
  return out;
}

Result<std::vector<SecretInfo>> SecretStore::History(std::string_view ns, std::string_view name) {
  BERTH_TRY(Get(ns, name));
  const std::string prefix = fmt::format("{}{}/{}/", kSecretVersionsPrefix, ns, name);
  auto got = BERTH_TRY(store_.Get(prefix, {.prefix = true}));
  std::vector<SecretInfo> out;
  for (auto it = got.kvs.rbegin(); it != got.kvs.rend(); ++it) {
    out.push_back(BERTH_TRY(RecordFrom(ns, name, *it)).info);
  }
  return out;
}

Result<int64_t> SecretStore::Delete(std::string_view ns, std::string_view name) {
  BERTH_TRY(Get(ns, name));
  auto r = BERTH_TRY(store_.Txn(
      {.success = {store::TxnOp::Delete(SecretKey(ns, name)),
                   store::TxnOp::Delete(fmt::format("{}{}/{}/", kSecretVersionsPrefix, ns, name),
                                        /*prefix=*/true)}}));
  return r.revision;
}

Result<RotateResult> SecretStore::RotateKey() {
  std::lock_guard rotating(rotate_mu_);
  RotateResult out;
  MasterKeys next;
  {
    std::lock_guard lock(mu_);
    if (keys_.path.empty()) {
      return Fail(ErrorCode::kFailedPrecondition,
                  fmt::format("the master key comes from {}: rotate it there (start berthd with "
                              "the new key and the old one in <data-dir>/secrets/master.keys)",
                              keys_.source));
    }
    next = keys_;
  }
  out.old_key = next.current;
  std::string key = RandomBytes(kSecretKeyBytes);
  next.current = KeyId(key);
  next.keys[next.current] = key;
  out.new_key = next.current;
  // Both keys in the file before any record uses the new one; the switch waits for writes
  // under the old key to finish, so the passes below see every record that names it.
  BERTH_TRY(SaveKeys(next));
  {
    std::unique_lock writes(write_mu_);
    std::lock_guard lock(mu_);
    keys_ = next;
  }
  // Passes until no record names another key (a Set that raced the switch may have written
  // with the old key after our read: the next pass finds it).
  int64_t pending = 1;
  for (int pass = 0; pass < 8 && pending > 0; ++pass) {
    pending = BERTH_TRY(Rewrap(next.current, key, out.rewrapped));
  }
  if (pending > 0) {
    return Fail(ErrorCode::kUnavailable,
                fmt::format("{} records still name an old master key after 8 passes (writes "
                            "kept racing); both keys stay in {}: run rotate-key again",
                            pending, next.path));
  }
  // Every record now names the new key: the old ones go.
  next.keys = {{next.current, key}};
  OPENSSL_cleanse(key.data(), key.size());
  BERTH_TRY(SaveKeys(next));
  {
    std::lock_guard lock(mu_);
    keys_ = next;
  }
  return out;
}

Result<int64_t> SecretStore::Rewrap(const std::string& key_id, const std::string& key,
                                    int64_t& rewrapped) {
  int64_t pending = 0;
  for (std::string_view prefix : {kSecretsPrefix, kSecretVersionsPrefix}) {
    auto got = BERTH_TRY(store_.Get(prefix, {.prefix = true}));
    for (const auto& kv : got.kvs) {
      auto j = ParseJson(kv.value);
      if (!j || !j->is_object()) continue;
      if (j->value("key_id", "") == key_id) continue;
      // ns/name from the key: "<prefix><ns>/<name>[/<version>]".
      std::string_view rest = std::string_view(kv.key).substr(prefix.size());
      auto slash = rest.find('/');
      std::string ns(rest.substr(0, slash));
      std::string name(rest.substr(slash + 1));
      if (prefix == kSecretVersionsPrefix) name = name.substr(0, name.rfind('/'));
      const int64_t version = j->value("version", int64_t{0});
      std::string data_key = BERTH_TRY(
          Unwrap(j->value("key_id", ""), j->value("wrapped_key", ""), KeyAad(ns, name, version)));
      (*j)["wrapped_key"] = Base64(BERTH_TRY(Seal(key, data_key, KeyAad(ns, name, version))));
      (*j)["key_id"] = key_id;
      OPENSSL_cleanse(data_key.data(), data_key.size());
      // A write that raced us used the new key already: its record is skipped next time.
      auto w = BERTH_TRY(store_.Txn({.compare = {{.key = kv.key,
                                                  .target = store::Compare::Target::kModRevision,
                                                  .op = store::Compare::Op::kEqual,
                                                  .number = kv.mod_revision}},
                                     .success = {store::TxnOp::Put(kv.key, j->dump())}}));
      if (w.succeeded) {
        ++rewrapped;
      } else {
        ++pending;
      }
    }
  }
  return pending;
}

}  // namespace berth::config
