// common/: what every library of ovl shares: value types (ip.h), this result type, fd
// ownership, the node's local state files (ovl-agent <-> ovl-cni), the directory watch, the
// version. Includes nothing of ovl.
//
// The one result type of ovl: a value, or an Error that carries the errno (when the kernel or
// libc gave one) and a message naming the object, the field and what was expected.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace ovl {

struct Error {
  int code = 0;         // errno (positive) when the cause is a system error, else 0
  std::string message;  // "what failed: why", context first

  // A system error: "context: strerror(err)".
  static Error sys(int err, const std::string& context) {
    return Error{err, context + ": " + std::strerror(err)};
  }
  static Error msg(std::string text) { return Error{0, std::move(text)}; }

  // Prepends an outer context: "outer: inner".
  Error withContext(const std::string& outer) const { return Error{code, outer + ": " + message}; }
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

inline Status okStatus() {
  return Status{};
}

}  // namespace ovl
