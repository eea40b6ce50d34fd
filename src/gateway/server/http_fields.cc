#include "gateway/server/http_fields.h"

#include "gateway/server/http1_heads.h"

namespace berth::gateway::server {

std::optional<std::string_view> FindField(const Fields& fields, std::string_view name) {
  for (const auto& f : fields) {
    if (f.name == name) return f.value;
  }
  return std::nullopt;
}

bool IsConnectionSpecific(std::string_view name, std::string_view value) {
  switch (name.size()) {
    case 2:
      return IEquals(name, "te") && !IEquals(value, "trailers");
    case 7:
      return IEquals(name, "upgrade");
    case 10:
      return IEquals(name, "connection") || IEquals(name, "keep-alive");
    case 16:
      return IEquals(name, "proxy-connection");
    case 17:
      return IEquals(name, "transfer-encoding");
    default:
      return false;
  }
}

void AppendLower(std::string& out, std::string_view name) {
  const size_t at = out.size();
  out.append(name);
  for (size_t i = at; i < out.size(); ++i) {
    if (out[i] >= 'A' && out[i] <= 'Z') out[i] = static_cast<char>(out[i] - 'A' + 'a');
  }
}

}  // namespace berth::gateway::server
