#include "control/client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace ratelimit::control {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

int remainingMs(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

}  // namespace

Result<Client> Client::connect(const std::string& path, std::chrono::milliseconds timeout) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(addr.sun_path))
        return invalid("connect", "socket path '" + path + "' is empty or too long");
    std::memcpy(addr.sun_path, path.data(), path.size());

    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return sysError("socket", "AF_UNIX");
    // A Unix socket connect() does not block on a live listener unless its
    // backlog is full; in that case EAGAIN is reported like a refusal.
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
        int e = errno;
        ::close(fd);
        return sysError("connect", path, e);
    }
    return Client(fd, path, timeout);
}

Client::Client(int fd, std::string path, std::chrono::milliseconds timeout)
    : fd_(fd), path_(std::move(path)), timeout_(timeout) {}

Client::Client(Client&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), path_(std::move(o.path_)), timeout_(o.timeout_),
      nextId_(o.nextId_), lastId_(o.lastId_), buf_(std::move(o.buf_)) {}

Client& Client::operator=(Client&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = std::exchange(o.fd_, -1);
        path_ = std::move(o.path_);
        timeout_ = o.timeout_;
        nextId_ = o.nextId_;
        lastId_ = o.lastId_;
        buf_ = std::move(o.buf_);
    }
    return *this;
}

Client::~Client() {
    if (fd_ >= 0) ::close(fd_);
}

Status Client::sendRequest(const std::string& cmd, const json& args) {
    lastId_ = nextId_++;
    json req = {{"v", kProtocolVersion}, {"id", lastId_}, {"cmd", cmd}};
    if (!args.is_null() && !(args.is_object() && args.empty())) req["args"] = args;
    std::string line = req.dump() + "\n";

    auto deadline = Clock::now() + timeout_;
    size_t off = 0;
    while (off < line.size()) {
        ssize_t n = ::send(fd_, line.data() + off, line.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            off += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pollfd p{fd_, POLLOUT, 0};
            int r = ::poll(&p, 1, remainingMs(deadline));
            if (r == 0) return sysError("send " + cmd, path_, ETIMEDOUT);
            if (r < 0 && errno != EINTR) return sysError("poll", path_);
            continue;
        }
        return sysError("send " + cmd, path_);
    }
    return {};
}

Result<std::string> Client::readLine(int deadlineMs, int cancelFd, bool* cancelled, bool* eof) {
    *cancelled = false;
    *eof = false;
    auto deadline = Clock::now() + std::chrono::milliseconds(deadlineMs < 0 ? 0 : deadlineMs);
    for (;;) {
        auto nl = buf_.find('\n');
        if (nl != std::string::npos) {
            std::string line = buf_.substr(0, nl);
            buf_.erase(0, nl + 1);
            return line;
        }
        if (buf_.size() > kMaxResponseLine)
            return invalid("read", "response line from " + path_ + " exceeds " +
                                       std::to_string(kMaxResponseLine) + " bytes");
        pollfd p[2] = {{fd_, POLLIN, 0}, {cancelFd, POLLIN, 0}};
        int np = cancelFd >= 0 ? 2 : 1;
        int r = ::poll(p, np, deadlineMs < 0 ? -1 : remainingMs(deadline));
        if (r < 0) {
            if (errno == EINTR) continue;
            return sysError("poll", path_);
        }
        if (r == 0) return sysError("waiting for ratelimitd", path_, ETIMEDOUT);
        if (np == 2 && (p[1].revents & POLLIN)) {
            *cancelled = true;
            return std::string{};
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            char chunk[65536];
            ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN) continue;
                return sysError("recv", path_);
            }
            if (n == 0) {
                *eof = true;
                return std::string{};
            }
            buf_.append(chunk, static_cast<size_t>(n));
        }
    }
}

Result<Reply> Client::parseReply(const std::string& line) const {
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object())
        return invalid("protocol", "ratelimitd sent a line that is not a JSON object: " +
                                       line.substr(0, 200));
    if (j.contains("v") && j["v"] != kProtocolVersion)
        return invalid("protocol", "ratelimitd speaks protocol version " + j["v"].dump() +
                                       ", this ratelimitctl speaks " +
                                       std::to_string(kProtocolVersion));
    Reply reply;
    reply.ok = j.value("ok", false);
    if (reply.ok) {
        reply.result = j.contains("result") ? j["result"] : json::object();
    } else {
        reply.error = j.contains("error") ? j["error"] : json::object();
        if (reply.error.is_object()) {
            reply.code = reply.error.value("code", std::string("EIO"));
            reply.message = reply.error.value("message", std::string("request failed"));
        } else {
            reply.code = "EIO";
            reply.message = reply.error.dump();
        }
    }
    return reply;
}

Result<Reply> Client::readReply() {
    for (;;) {
        bool cancelled = false, eof = false;
        auto line = readLine(static_cast<int>(timeout_.count()), -1, &cancelled, &eof);
        if (!line) return line.error();
        if (eof) return invalid("recv", "ratelimitd closed the connection without answering");
        if (line->empty()) continue;
        auto reply = parseReply(*line);
        if (!reply) return reply.error();
        // A response to a request the server could not parse has no usable id.
        json j = json::parse(*line, nullptr, false);
        if (j.contains("id") && j["id"].is_number_integer() && j["id"].get<int64_t>() != lastId_)
            continue;  // not ours (cannot happen with one request in flight)
        return reply;
    }
}

Result<Reply> Client::call(const std::string& cmd, const json& args) {
    if (auto s = sendRequest(cmd, args); !s) return s.error();
    return readReply();
}

Result<Reply> Client::subscribe(const std::string& cmd, const json& args) {
    return call(cmd, args);
}

Status Client::endStream() {
    const std::string end = "\n";
    if (::send(fd_, end.data(), end.size(), MSG_NOSIGNAL | MSG_DONTWAIT) != 1)
        return sysError("send", path_);
    auto ack = call("status");  // stream lines still in flight carry another id: skipped
    if (!ack) return ack.error();
    return {};
}

Result<StreamItem> Client::next(int cancelFd) {
    for (;;) {
        bool cancelled = false, eof = false;
        auto line = readLine(-1, cancelFd, &cancelled, &eof);
        if (!line) return line.error();
        if (cancelled) return StreamItem{StreamItem::Kind::Cancelled, {}};
        if (eof) return StreamItem{StreamItem::Kind::Closed, {}};
        if (line->empty()) continue;
        json j = json::parse(*line, nullptr, false);
        if (j.is_discarded() || !j.is_object())
            return invalid("protocol", "ratelimitd sent a line that is not a JSON object: " +
                                           line->substr(0, 200));
        if (j.contains("ok") && !j.value("ok", true)) {
            auto reply = parseReply(*line);
            if (!reply) return reply.error();
            return invalid("stream", reply->message);
        }
        if (!j.value("stream", false) || !j.contains("data")) continue;
        return StreamItem{StreamItem::Kind::Data, j["data"]};
    }
}

}  // namespace ratelimit::control
