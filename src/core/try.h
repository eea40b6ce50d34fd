// Error propagation for Result<T> (core/error.h), in one line per call instead of the
// hand-written `if (!r) return std::unexpected(r.error());`. Included by core/input.h; it
// moves into core/error.h itself once the tree's hand-written propagation is swept to it.
// Thread-safety: macros.
#pragma once

#include <expected>
#include <utility>

#include "core/error.h"

// Error propagation (GCC/clang statement expressions). `expr` is a Result<T>; on failure the
// enclosing function returns its error, otherwise the macro is the value (void for
// Result<void>):
//
//   Query q = BERTH_TRY(db.Prepare(sql));      // Result<Query>: q is the value
//   BERTH_TRY(q.Bind(1, key));                 // Result<void>
//   auto cfg = BERTH_TRY_WRAP(Load(path), "config " + path);  // "config x: <error>"
//   auto r = co_await Fetch();                 // in a coroutine: co_return on failure;
//   auto v = BERTH_CO_TRY(std::move(r));       // co_await stays outside (GCC 12 crashes on
//                                              // co_await in a statement expression)
//
// The enclosing function returns any Result<U>. The context (a string, or anything Wrap
// takes) is evaluated only on failure; an `expr` with a top-level comma needs parentheses in
// the _WRAP forms.
#define BERTH_TRY(...) BERTH_TRY_IMPL_(return, (__VA_ARGS__), )
#define BERTH_TRY_WRAP(expr, ...) BERTH_TRY_IMPL_(return, (expr), __VA_ARGS__)
#define BERTH_CO_TRY(...) BERTH_TRY_IMPL_(co_return, (__VA_ARGS__), )
#define BERTH_CO_TRY_WRAP(expr, ...) BERTH_TRY_IMPL_(co_return, (expr), __VA_ARGS__)

#define BERTH_TRY_IMPL_(ret, expr, ...)                                        \
  ({                                                                           \
    auto berth_try_result_ = expr;                                             \
    if (!berth_try_result_.has_value()) [[unlikely]] {                         \
      ret ::std::unexpected<::berth::Error>(::berth::try_internal::TryContext( \
          ::std::move(berth_try_result_).error() __VA_OPT__(, ) __VA_ARGS__)); \
    }                                                                          \
    *::std::move(berth_try_result_);                                           \
  })

namespace berth::try_internal {
inline Error TryContext(Error e) { return e; }
template <typename Context>
Error TryContext(Error e, const Context& context) {
  return Wrap(std::move(e), context);
}
}  // namespace berth::try_internal
