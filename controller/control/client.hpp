// Client side of the control protocol (docs/protocol.md): one JSON object per
// line over a Unix stream socket. Used by ratelimitctl and by tests.
//
// Transport failures (connect, timeouts, a closed or garbled connection) are
// Result errors; a well-formed error response from the daemon is a Reply with
// ok == false, so that callers can tell "daemon said no" from "no daemon".
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "util/result.hpp"

namespace ratelimit::control {

inline constexpr int kProtocolVersion = 1;
inline constexpr const char* kDefaultSocket = "/run/ratelimit/ratelimitd.sock";
// Upper bound on one response line; a rules.list of 256 rules is far below.
inline constexpr size_t kMaxResponseLine = 64u << 20;

struct Reply {
    bool ok = false;
    nlohmann::json result;      // ok: the result object
    std::string code;           // !ok: "EINVAL", "ENOENT", ...
    std::string message;        // !ok: the daemon's message
    nlohmann::json error;       // !ok: the whole error object (may carry details)
};

// One event from a stream (see Client::next).
struct StreamItem {
    enum class Kind { Data, Cancelled, Closed } kind = Kind::Closed;
    nlohmann::json data;        // Kind::Data: the "data" object of the line
};

class Client {
public:
    // Connects to the daemon's socket. `timeout` bounds every later call().
    // On failure the Error carries the connect() errno (ENOENT/ECONNREFUSED
    // mean the daemon is not running) and the path as context.
    static Result<Client> connect(const std::string& path, std::chrono::milliseconds timeout);

    Client(Client&& other) noexcept;
    Client& operator=(Client&& other) noexcept;
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;
    ~Client();

    // Sends one request and waits (up to the timeout) for its response.
    Result<Reply> call(const std::string& cmd, const nlohmann::json& args = nlohmann::json::object());

    // Starts a `*.subscribe` stream: returns the daemon's first response (an
    // error Reply if it refused). Then call next() until it returns Closed or
    // Cancelled; the stream ends when this Client is destroyed.
    Result<Reply> subscribe(const std::string& cmd, const nlohmann::json& args = nlohmann::json::object());

    // Waits without a timeout for the next stream line. If `cancelFd` >= 0
    // becomes readable first (e.g. a signalfd for SIGINT), returns Cancelled.
    Result<StreamItem> next(int cancelFd);

    // Ends a stream explicitly (protocol: any line ends it), then waits for
    // the answer to a `status` sent after it: once that arrives the daemon
    // has dropped the subscription, so closing cannot race with a push.
    Status endStream();

    const std::string& path() const { return path_; }

private:
    Client(int fd, std::string path, std::chrono::milliseconds timeout);
    Status sendRequest(const std::string& cmd, const nlohmann::json& args);
    // Reads one line; deadlineMs < 0 waits forever. Sets `cancelled` if
    // cancelFd became readable first, `eof` if the daemon closed the socket.
    Result<std::string> readLine(int deadlineMs, int cancelFd, bool* cancelled, bool* eof);
    Result<Reply> readReply();
    Result<Reply> parseReply(const std::string& line) const;

    int fd_ = -1;
    std::string path_;
    std::chrono::milliseconds timeout_;
    int64_t nextId_ = 1;
    int64_t lastId_ = 0;        // id of the request in flight
    std::string buf_;           // bytes received after the last complete line
};

}  // namespace ratelimit::control
