#include "store/store.h"

#include <fmt/core.h>

namespace berth::store {

TxnOp TxnOp::Get(std::string key, bool prefix) {
  TxnOp op;
  op.type = Type::kRange;
  op.key = std::move(key);
  op.prefix = prefix;
  return op;
}

TxnOp TxnOp::Put(std::string key, std::string value, int64_t lease) {
  TxnOp op;
  op.type = Type::kPut;
  op.key = std::move(key);
  op.value = std::move(value);
  op.lease = lease;
  return op;
}

TxnOp TxnOp::Delete(std::string key, bool prefix) {
  TxnOp op;
  op.type = Type::kDelete;
  op.key = std::move(key);
  op.prefix = prefix;
  return op;
}

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto c = static_cast<unsigned char>(end.back());
    if (c < 0xff) {
      end.back() = static_cast<char>(c + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

Result<void> ValidateKey(std::string_view key) {
  if (key.empty()) return Fail(ErrorCode::kInvalidArgument, "key is empty");
  if (key.size() > kMaxKeyBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("key of {} bytes exceeds the limit of {}", key.size(), kMaxKeyBytes));
  }
  if (key.find('\0') != std::string_view::npos) {
    return Fail(ErrorCode::kInvalidArgument, "key contains a NUL byte");
  }
  return {};
}

}  // namespace berth::store
