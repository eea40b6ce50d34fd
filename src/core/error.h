// Errors as values. Every expected failure in Berth returns `Result<T>` =
// `std::expected<T, Error>`; the error carries a code that maps to an HTTP status and a
// message that names what is wrong and where. Broken invariants are asserted instead.
// Thread-safety: plain values.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace berth {

enum class ErrorCode {
  kInvalidArgument,     // 400: the caller sent something malformed or out of range
  kUnauthenticated,     // 401: no or bad credentials
  kPermissionDenied,    // 403: credentials fine, role not enough
  kNotFound,            // 404
  kAlreadyExists,       // 409
  kFailedPrecondition,  // 409/412: a compare failed, a state does not allow it
  kCompacted,           // 410: the revision asked for was compacted away
  kPayloadTooLarge,     // 413
  kResourceExhausted,   // 429: rate limits, quotas
  kUnavailable,         // 503: a peer or back-end is down; retrying may help
  kDeadlineExceeded,    // 504
  kInternal,            // 500: a bug or an I/O failure we did not expect
};

// Returns the HTTP status that a REST response uses for `code`.
int HttpStatusFor(ErrorCode code);
// Returns the stable lower_snake name used in JSON error bodies ("invalid_argument").
std::string_view ErrorCodeName(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;

  Error() = default;
  Error(ErrorCode c, std::string m) : code(c), message(std::move(m)) {}
};

template <typename T>
using Result = std::expected<T, Error>;

// Shorthand for returning an error: `return Fail(ErrorCode::kNotFound, "no key " + k);`
inline std::unexpected<Error> Fail(ErrorCode code, std::string message) {
  return std::unexpected<Error>(Error(code, std::move(message)));
}

// Prefixes the message of a failed result with context ("store: open db: ...").
inline Error Wrap(Error e, std::string_view context) {
  e.message = std::string(context) + ": " + e.message;
  return e;
}

}  // namespace berth
