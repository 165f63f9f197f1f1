// Server side of the control protocol (docs/protocol.md): a Unix stream
// socket speaking newline-delimited JSON. Owns the connections and their
// buffers; never blocks on a client. Commands are executed by the Handler.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "util/fd.hpp"
#include "util/result.hpp"

namespace ratelimit {

using Json = nlohmann::json;
using ConnId = uint64_t;

inline constexpr int kProtocolVersion = 1;
inline constexpr size_t kMaxRequestBytes = 65536;
inline constexpr size_t kMaxPendingOutput = 8u << 20;          // per connection
inline constexpr std::chrono::milliseconds kSlowClientLimit{2000};

struct Peer {
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;   // supplementary groups (SO_PEERGROUPS)
};

struct Request {
    Json id;                     // echoed as given (an integer per the protocol)
    std::string cmd;
    Json args = Json::object();
};

class ControlServer {
public:
    class Handler {
    public:
        virtual ~Handler() = default;
        virtual void onRequest(ConnId conn, const Peer& peer, const Request& req) = 0;
        // The client ended a stream (sent a line) or disconnected.
        virtual void onStreamEnd(ConnId conn) = 0;
    };

    // Creates the socket (replacing a stale one), mode `mode`, group `gid` (-1: unchanged).
    static Result<std::unique_ptr<ControlServer>> listen(const std::string& path, mode_t mode, gid_t gid,
                                                         Handler* handler);
    ~ControlServer();
    // Fails if a live process accepts connections on `path` (a socket whose
    // daemon died is stale and fine to replace).
    static Status ensureNotServed(const std::string& path);

    int epollFd() const { return epfd_.get(); }
    void dispatch();              // handle whatever is ready (non-blocking)
    void tick();                  // disconnect clients stuck for longer than kSlowClientLimit

    void reply(ConnId c, const Json& id, const Json& result);
    void replyError(ConnId c, const Json& id, const std::string& code, const std::string& message);
    // Marks c as streaming `id` (after an ok reply with {"stream": true}).
    void startStream(ConnId c, const Json& id);
    bool streamData(ConnId c, const Json& id, const Json& data);  // false if c is gone
    bool alive(ConnId c) const { return conns_.count(c) != 0; }
    size_t connections() const { return conns_.size(); }

private:
    struct Conn {
        UniqueFd fd;
        Peer peer;
        std::string in;
        std::string out;
        bool streaming = false;
        bool close_after_flush = false;
        std::chrono::steady_clock::time_point blocked_since{};
        bool want_out = false;
    };

    ControlServer() = default;
    void accept();
    void onReadable(ConnId c);
    void flush(ConnId c);
    void send(ConnId c, const Json& msg);
    void close(ConnId c);
    void handleLine(ConnId c, const std::string& line);
    void protocolError(ConnId c, const Json& id, const std::string& msg, bool close_conn);
    void updateEvents(Conn& conn, ConnId c);

    std::string path_;
    UniqueFd listen_fd_;
    UniqueFd epfd_;
    Handler* handler_ = nullptr;
    ConnId next_id_ = 1;
    std::map<ConnId, Conn> conns_;
    std::map<int, ConnId> by_fd_;
};

}  // namespace ratelimit
