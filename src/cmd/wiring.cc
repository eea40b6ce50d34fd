#include "cmd/wiring.h"

namespace berth {
namespace {

class Started final : public Components {};

}  // namespace

Result<std::unique_ptr<Components>> StartComponents(Wiring& wiring, api::Router& router) {
  return std::make_unique<Started>();
}

}  // namespace berth
