// DNS query parser and answerer (src/registry/dns/): any bytes either parse into a query,
// get an error rcode or are dropped; every answer built must fit the limit and reparse as
// a DNS header. Runs the answerer over a registry on an in-memory store with a few
// instances so answer building is exercised too.
#include <cstdint>
#include <cstdlib>

#include "core/clock.h"
#include "core/log.h"
#include "registry/dns/answerer.h"
#include "registry/registry.h"
#include "store/testing/fake_store.h"

namespace {

struct World {
  berth::ManualClock clock;
  berth::store::testing::FakeStore store{clock};
  berth::registry::Registry registry{store, clock};
  berth::registry::dns::Answerer answerer{registry};
  World() {
    berth::log::Configure(berth::log::Level::kError, false);
    for (int i = 0; i < 40; ++i) {
      berth::registry::Instance in;
      in.service = i % 2 ? "web" : "api";
      in.id = "i" + std::to_string(i);
      in.address = "10.0.0." + std::to_string(i + 1);
      in.port = static_cast<uint32_t>(8000 + i);
      (void)registry.Register(in);
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();
  std::span<const uint8_t> in(data, size);
  auto p = berth::registry::dns::ParseQuery(in);
  if (p.kind == berth::registry::dns::ParseResult::Kind::kQuery &&
      p.query.question.name.size() > 255) {
    std::abort();
  }
  for (bool udp : {true, false}) {
    auto out = world->answerer.Handle(in, udp);
    if (out.empty()) continue;
    if (udp && out.size() > 4096) std::abort();
    if (out.size() < berth::registry::dns::kHeaderBytes) std::abort();
    if (!(out[2] & 0x80)) std::abort();  // must be a response
  }
  return 0;
}
