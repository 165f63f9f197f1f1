// libFuzzer harness: the control socket's request framing and parsing
// (control/server.cpp), driven through a real Unix socket exactly as a client
// would: each input is what one client writes before it hangs up. The handler
// answers every request (and starts a stream for "*.subscribe") so replies,
// protocol errors, streams and disconnects all run. Invariants: every line the
// server sends is a JSON object of protocol v1 with an "ok" or "stream"
// member, every request handed to the handler has an integer id, a string
// cmd and object args, and no connection outlives its client.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "control/server.hpp"
#include "util/log.hpp"

using namespace ratelimit;

namespace {

[[noreturn]] void fail(const char* what, const std::string& detail) {
    std::fprintf(stderr, "fuzz_control invariant violated: %s: %s\n", what, detail.c_str());
    std::abort();
}

class Answering : public ControlServer::Handler {
public:
    ControlServer* server = nullptr;
    void onRequest(ConnId conn, const Peer&, const Request& req) override {
        if (!req.id.is_number_integer()) fail("request id", req.id.dump());
        if (!req.args.is_object()) fail("request args", req.args.dump());
        if (req.cmd.size() >= 10 && req.cmd.compare(req.cmd.size() - 10, 10, ".subscribe") == 0) {
            server->startStream(conn, req.id);
            server->streamData(conn, req.id, Json{{"n", 1}});
            return;
        }
        server->reply(conn, req.id, Json{{"cmd", req.cmd}, {"args", req.args}});
    }
    void onStreamEnd(ConnId) override {}
};

std::string g_path;
Answering g_handler;
std::unique_ptr<ControlServer> g_server;

void removeSocket() {
    g_server.reset();
    if (!g_path.empty()) unlink(g_path.c_str());
}

void checkReplies(const std::string& out) {
    size_t start = 0;
    while (start < out.size()) {
        size_t nl = out.find('\n', start);
        if (nl == std::string::npos) fail("reply without a newline", out.substr(start));
        std::string line = out.substr(start, nl - start);
        start = nl + 1;
        Json j = Json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.is_object()) fail("reply is not a JSON object", line);
        if (!j.contains("v") || j["v"] != kProtocolVersion) fail("reply version", line);
        if (!j.contains("id")) fail("reply without id", line);
        bool is_ok = j.contains("ok") && j["ok"].is_boolean();
        bool is_stream = j.contains("stream") && j["stream"] == true;
        if (!is_ok && !is_stream) fail("reply is neither a result nor stream data", line);
        if (is_ok && !j["ok"].get<bool>() &&
            (!j.contains("error") || !j["error"].contains("code") || !j["error"]["code"].is_string()))
            fail("error reply without a code", line);
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    setLogLevel(LogLevel::Error);  // protocol errors are expected; keep the output readable
    const char* dir = std::getenv("TMPDIR");
    g_path = std::string(dir ? dir : "/tmp") + "/rl-fuzz-control-" + std::to_string(getpid()) + ".sock";
    auto s = ControlServer::listen(g_path, 0600, static_cast<gid_t>(-1), &g_handler);
    if (!s) {
        std::fprintf(stderr, "fuzz_control: %s\n", s.error().message().c_str());
        std::exit(1);
    }
    g_server = std::move(*s);
    g_handler.server = g_server.get();
    std::atexit(removeSocket);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket", std::strerror(errno));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, g_path.c_str(), g_path.size() + 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) fail("connect", std::strerror(errno));
    g_server->dispatch();  // accept
    // Inputs are far below the socket buffer: one write, then the server reads all of it.
    size_t off = 0;
    while (off < size) {
        ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (n < 0) break;  // the server already closed us (protocol error): fine
        off += static_cast<size_t>(n);
        g_server->dispatch();
    }
    g_server->dispatch();
    std::string out;
    char buf[65536];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    for (int i = 0; i < 4 && g_server->connections() != 0; ++i) g_server->dispatch();
    if (g_server->connections() != 0) fail("connection outlived its client", std::to_string(g_server->connections()));
    checkReplies(out);
    return 0;
}
