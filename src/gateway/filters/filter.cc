#include "gateway/filters/filter.h"

#include <strings.h>

namespace berth::gateway::filters {

std::optional<std::string_view> RequestContext::Header(std::string_view name) const {
  if (headers == nullptr) return std::nullopt;
  for (const auto& h : *headers) {
    if (h.name.size() == name.size() && strncasecmp(h.name.data(), name.data(), name.size()) == 0) {
      return h.value;
    }
  }
  return std::nullopt;
}

}  // namespace berth::gateway::filters
