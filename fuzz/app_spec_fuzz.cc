// Feeds arbitrary bytes to the app spec parsers. Beyond "no crash": every spec that parses
// must survive the store's JSON round trip unchanged, and every error must name the file.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/units.h"
#include "orchestrator/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace berth::orchestrator;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (bool compose : {false, true}) {
    auto app =
        compose ? ParseComposeYaml(text, "compose.yaml", "fuzz") : ParseAppYaml(text, "app.yaml");
    if (!app) {
      if (app.error().message.rfind(compose ? "compose.yaml" : "app.yaml", 0) != 0) std::abort();
      continue;
    }
    auto back = AppFromJson(AppToJson(*app));
    if (!back || !(*back == *app)) std::abort();
  }
  (void)berth::ParseBytes(text);
  (void)berth::ParseCpu(text);
  (void)berth::ParseDuration(text);
  return 0;
}
