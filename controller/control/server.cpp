#include "control/server.hpp"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "util/log.hpp"

namespace ratelimit {
namespace {

constexpr uint64_t kListenTag = 0;  // epoll data for the listening socket

Peer peerOf(int fd) {
    Peer p;
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
        p.pid = cred.pid;
        p.uid = cred.uid;
        p.gid = cred.gid;
    } else {
        p.uid = static_cast<uid_t>(-1);  // unknown peer: never privileged
        p.gid = static_cast<gid_t>(-1);
    }
    std::vector<gid_t> groups(64);
    socklen_t glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) != 0 && errno == ERANGE) {
        groups.resize(glen / sizeof(gid_t) + 1);
        glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) != 0) glen = 0;
    }
    groups.resize(glen / sizeof(gid_t));
    p.groups = std::move(groups);
    return p;
}

}  // namespace

Status ControlServer::ensureNotServed(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) return invalid("control socket", "path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (probe.valid() && connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0)
        return Error{EADDRINUSE, "control socket", path + " is served by another running ratelimitd"};
    return {};
}

Result<std::unique_ptr<ControlServer>> ControlServer::listen(const std::string& path, mode_t mode, gid_t gid,
                                                             Handler* handler) {
    std::unique_ptr<ControlServer> s(new ControlServer());
    s->handler_ = handler;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) return invalid("control socket", "path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);

    std::error_code ec;
    auto dir = std::filesystem::path(path).parent_path();
    if (!dir.empty()) std::filesystem::create_directories(dir, ec);
    s->listen_fd_.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!s->listen_fd_.valid()) return sysError("socket", "AF_UNIX");
    if (auto live = ensureNotServed(path); !live) return live.error();
    unlink(path.c_str());  // stale: its daemon is gone (kill -9)
    // no window in which the socket is more permissive than `mode`
    mode_t old_umask = umask(0177);
    int rc = bind(s->listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    umask(old_umask);
    if (rc != 0) return sysError("bind", path);
    s->path_ = path;  // ours from here on: unlinked by the destructor
    if (chmod(path.c_str(), mode) != 0) return sysError("chmod", path);
    if (gid != static_cast<gid_t>(-1) && chown(path.c_str(), static_cast<uid_t>(-1), gid) != 0)
        RL_LOG_WARN("control socket %s: cannot hand it to group %u (%s; needs CAP_CHOWN): only root can connect",
                    path.c_str(), gid, strerror(errno));
    if (::listen(s->listen_fd_.get(), 64) != 0) return sysError("listen", path);

    s->epfd_.reset(epoll_create1(EPOLL_CLOEXEC));
    if (!s->epfd_.valid()) return sysError("epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kListenTag;
    if (epoll_ctl(s->epfd_.get(), EPOLL_CTL_ADD, s->listen_fd_.get(), &ev) != 0) return sysError("epoll_ctl");
    return s;
}

ControlServer::~ControlServer() {
    conns_.clear();
    if (!path_.empty()) unlink(path_.c_str());
}

void ControlServer::dispatch() {
    epoll_event evs[32];
    int n = epoll_wait(epfd_.get(), evs, 32, 0);
    for (int i = 0; i < n; ++i) {
        ConnId c = evs[i].data.u64;
        if (c == kListenTag) {
            accept();
            continue;
        }
        if (!conns_.count(c)) continue;
        if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) onReadable(c);
        if (conns_.count(c) && (evs[i].events & EPOLLOUT)) flush(c);
    }
}

void ControlServer::accept() {
    for (;;) {
        int fd = accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                RL_LOG_WARN("control: accept: %s", strerror(errno));
            return;
        }
        ConnId id = next_id_++;
        Conn conn;
        conn.fd.reset(fd);
        conn.peer = peerOf(fd);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = id;
        if (epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
            RL_LOG_WARN("control: epoll_ctl: %s", strerror(errno));
            continue;
        }
        RL_LOG_DEBUG("control: connection %lu from pid %d uid %u", static_cast<unsigned long>(id), conn.peer.pid,
                     conn.peer.uid);
        by_fd_[fd] = id;
        conns_.emplace(id, std::move(conn));
    }
}

void ControlServer::onReadable(ConnId c) {
    char buf[16384];
    for (;;) {
        auto it = conns_.find(c);
        if (it == conns_.end()) return;
        Conn& conn = it->second;
        ssize_t n = recv(conn.fd.get(), buf, sizeof(buf), 0);
        if (n == 0) {
            close(c);
            return;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EINTR) continue;
            close(c);
            return;
        }
        if (conn.close_after_flush) continue;  // discard input of a connection being closed
        conn.in.append(buf, static_cast<size_t>(n));
        size_t pos;
        while (conns_.count(c) && !conns_[c].close_after_flush &&
               (pos = conns_[c].in.find('\n')) != std::string::npos) {
            std::string line = conns_[c].in.substr(0, pos);
            conns_[c].in.erase(0, pos + 1);
            if (line.size() > kMaxRequestBytes) {
                protocolError(c, nullptr, "request longer than 65536 bytes", true);
                return;
            }
            handleLine(c, line);
        }
        if (conns_.count(c) && conns_[c].in.size() > kMaxRequestBytes) {
            protocolError(c, nullptr, "request longer than 65536 bytes", true);
            return;
        }
    }
}

void ControlServer::protocolError(ConnId c, const Json& id, const std::string& msg, bool close_conn) {
    replyError(c, id, "EPROTO", msg);
    if (!close_conn || !conns_.count(c)) return;
    Conn& conn = conns_[c];
    conn.close_after_flush = true;
    conn.in.clear();
    shutdown(conn.fd.get(), SHUT_RD);
    if (conn.out.empty()) close(c);
}

void ControlServer::handleLine(ConnId c, const std::string& raw) {
    Conn& conn = conns_[c];
    if (conn.streaming) {
        // any line ends a stream
        conn.streaming = false;
        handler_->onStreamEnd(c);
        return;
    }
    std::string line = raw;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) return;  // blank line: ignore
    Json j = Json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        protocolError(c, nullptr, "request is not a JSON object", true);
        return;
    }
    Json id = j.contains("id") ? j["id"] : Json(nullptr);
    if (!id.is_number_integer()) {
        protocolError(c, id, "request needs an integer \"id\"", true);
        return;
    }
    if (!j.contains("cmd") || !j["cmd"].is_string()) {
        protocolError(c, id, "request needs a string \"cmd\"", true);
        return;
    }
    if (j.contains("args") && !j["args"].is_object() && !j["args"].is_null()) {
        protocolError(c, id, "\"args\" must be an object", true);
        return;
    }
    if (!j.contains("v") || !j["v"].is_number_integer() || j["v"].get<int64_t>() != kProtocolVersion) {
        replyError(c, id, "EPROTO", "unsupported protocol version (this server speaks v1)");
        return;
    }
    Request req;
    req.id = id;
    req.cmd = j["cmd"].get<std::string>();
    if (j.contains("args") && j["args"].is_object()) req.args = j["args"];
    handler_->onRequest(c, conn.peer, req);
}

void ControlServer::send(ConnId c, const Json& msg) {
    auto it = conns_.find(c);
    if (it == conns_.end()) return;
    Conn& conn = it->second;
    conn.out += msg.dump(-1, ' ', false, Json::error_handler_t::replace);
    conn.out += '\n';
    if (conn.out.size() > kMaxPendingOutput) {
        RL_LOG_WARN("control: connection %lu: client not reading (%zu bytes pending); disconnecting",
                    static_cast<unsigned long>(c), conn.out.size());
        close(c);
        return;
    }
    flush(c);
}

void ControlServer::updateEvents(Conn& conn, ConnId c) {
    bool want = !conn.out.empty();
    if (want == conn.want_out) return;
    epoll_event ev{};
    ev.events = EPOLLIN | (want ? static_cast<uint32_t>(EPOLLOUT) : 0u);
    ev.data.u64 = c;
    epoll_ctl(epfd_.get(), EPOLL_CTL_MOD, conn.fd.get(), &ev);
    conn.want_out = want;
}

void ControlServer::flush(ConnId c) {
    auto it = conns_.find(c);
    if (it == conns_.end()) return;
    Conn& conn = it->second;
    while (!conn.out.empty()) {
        ssize_t n = ::send(conn.fd.get(), conn.out.data(), conn.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            conn.out.erase(0, static_cast<size_t>(n));
            conn.blocked_since = {};
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (conn.blocked_since == std::chrono::steady_clock::time_point{})
                conn.blocked_since = std::chrono::steady_clock::now();
            updateEvents(conn, c);
            return;
        }
        close(c);  // EPIPE, ECONNRESET: the client went away
        return;
    }
    conn.blocked_since = {};
    if (conn.close_after_flush) {
        close(c);
        return;
    }
    updateEvents(conn, c);
}

void ControlServer::tick() {
    auto now = std::chrono::steady_clock::now();
    std::vector<ConnId> slow;
    for (auto& [id, conn] : conns_)
        if (!conn.out.empty() && conn.blocked_since != std::chrono::steady_clock::time_point{} &&
            now - conn.blocked_since > kSlowClientLimit)
            slow.push_back(id);
    for (ConnId id : slow) {
        RL_LOG_WARN("control: connection %lu: socket buffer full for more than 2 s; disconnecting",
                    static_cast<unsigned long>(id));
        close(id);
    }
}

void ControlServer::close(ConnId c) {
    auto it = conns_.find(c);
    if (it == conns_.end()) return;
    bool streaming = it->second.streaming;
    epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, it->second.fd.get(), nullptr);
    by_fd_.erase(it->second.fd.get());
    conns_.erase(it);
    if (streaming) handler_->onStreamEnd(c);
}

void ControlServer::reply(ConnId c, const Json& id, const Json& result) {
    send(c, Json{{"v", kProtocolVersion}, {"id", id}, {"ok", true}, {"result", result}});
}

void ControlServer::replyError(ConnId c, const Json& id, const std::string& code, const std::string& message) {
    send(c, Json{{"v", kProtocolVersion},
                 {"id", id},
                 {"ok", false},
                 {"error", Json{{"code", code}, {"message", message}}}});
}

void ControlServer::startStream(ConnId c, const Json& id) {
    reply(c, id, Json{{"stream", true}});
    if (conns_.count(c)) conns_[c].streaming = true;
}

bool ControlServer::streamData(ConnId c, const Json& id, const Json& data) {
    if (!conns_.count(c)) return false;
    send(c, Json{{"v", kProtocolVersion}, {"id", id}, {"stream", true}, {"data", data}});
    return conns_.count(c) != 0;
}

}  // namespace ratelimit
