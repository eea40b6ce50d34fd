#include "core/http/testing/json_lines.h"

#include <optional>
#include <string>

#include "core/units.h"  // Quoted

namespace berth::http::testing {

Result<void> StreamJsonLines(Client& client, const Request& request,
                             const std::function<bool(const Json& line)>& on_line,
                             const std::function<void(const Response& head)>& on_head) {
  std::string pending;
  std::optional<Error> bad_line;
  auto r = client.Stream(
      request,
      [&](const Response& head) {
        if (on_head) on_head(head);
      },
      [&](std::string_view data) {
        pending.append(data);
        size_t nl;
        while ((nl = pending.find('\n')) != std::string::npos) {
          auto j = ParseJson(std::string_view(pending).substr(0, nl));
          if (!j) {
            bad_line = Wrap(j.error(), "stream line " + Quoted(pending.substr(0, nl)));
            return false;
          }
          pending.erase(0, nl + 1);
          if (!on_line(*j)) return false;
        }
        return true;
      });
  if (bad_line) return std::unexpected(*bad_line);
  return r;
}

}  // namespace berth::http::testing
