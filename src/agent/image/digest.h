// sha256 content digests as the OCI image spec writes them ("sha256:<64 hex>"), computed
// with OpenSSL. Used by the image store to name and verify every blob it writes.
// Thread-safety: Sha256 is a plain value used by one thread; the free functions are pure.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/error.h"

namespace berth::agent::image {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(const void* data, size_t size);
  // "sha256:<hex>"; the object cannot be updated afterwards.
  std::string Finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

std::string DigestOf(std::string_view data);
Result<std::string> DigestOfFile(const std::string& path);
// True for "sha256:" followed by exactly 64 lowercase hex characters.
bool IsValidDigest(std::string_view digest);
// The hex part of a valid digest.
std::string_view DigestHex(std::string_view digest);

}  // namespace berth::agent::image
