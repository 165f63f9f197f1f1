// One error type for the controller: errno (0 if not a system error), the
// operation that failed and context. Exceptions only at the edges (main, CLI).
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace ratelimit {

struct Error {
    int err = 0;          // errno, or 0 for validation errors
    std::string op;       // what was attempted, e.g. "bpf_map_update_elem rl_rules"
    std::string context;  // details for the operator

    std::string message() const {
        std::string m = op;
        if (!context.empty()) m += ": " + context;
        if (err != 0) m += std::string(" (") + std::strerror(err) + ")";
        return m;
    }
};

inline Error sysError(std::string op, std::string context = {}, int e = errno) {
    return Error{e, std::move(op), std::move(context)};
}
inline Error invalid(std::string op, std::string context = {}) {
    return Error{0, std::move(op), std::move(context)};
}

template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error e) : v_(std::move(e)) {}
    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &std::get<0>(v_); }
    const T* operator->() const { return &std::get<0>(v_); }
    T& operator*() { return std::get<0>(v_); }
    const Error& error() const { return std::get<1>(v_); }

private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error e) : e_(std::move(e)), ok_(false) {}
    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const Error& error() const { return e_; }

private:
    Error e_;
    bool ok_ = true;
};

using Status = Result<void>;

}  // namespace ratelimit
