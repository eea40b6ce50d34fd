// Differential fuzzing of the registry's hand-written instance codec: for any input, read as a
// registration body and as a stored value, the hand-written readers must give exactly what
// the Json reference paths give (the same instance, or the same error code and message), and
// what they accept must be written back byte for byte as the reference writes it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "registry/model.h"

namespace {

void Same(const berth::registry::Instance& a, const berth::registry::Instance& b) {
  using namespace berth::registry;
  if (EncodeStored(a) != EncodeStoredViaJson(b)) __builtin_trap();
  if (InstanceToJsonText(a) != InstanceToJsonTextViaJson(b)) __builtin_trap();
}

template <typename R>
void Agree(const R& fast, const R& slow) {
  if (fast.has_value() != slow.has_value()) __builtin_trap();
  if (fast) {
    Same(*fast, *slow);
  } else if (fast.error().code != slow.error().code ||
             fast.error().message != slow.error().message || fast.error().message.empty()) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace berth::registry;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Agree(ParseRegistration(text, "ns1", "web", "web-1"),
        ParseRegistrationViaJson(text, "ns1", "web", "web-1"));
  Agree(DecodeStored("/registry/ns1/web/web-1", text, 17, 3),
        DecodeStoredViaJson("/registry/ns1/web/web-1", text, 17, 3));
  return 0;
}
