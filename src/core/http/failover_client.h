// The several-servers Client behind Client::Create("https://a:7700,https://b:7700"): see
// client.h for what fails over. Private to core/http (client.cc calls it).
// Thread-safety: like any Client, one thread at a time (Shutdown from any thread).
#pragma once

#include <memory>
#include <string_view>

#include "core/error.h"
#include "core/http/client.h"

namespace berth::http {

// `bases`: two or more comma-separated base URLs; each must parse on its own.
Result<std::unique_ptr<Client>> CreateFailoverClient(std::string_view bases,
                                                     const ClientOptions& options);

}  // namespace berth::http
