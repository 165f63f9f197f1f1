// ControlServer framing over a real Unix socket: replies, protocol errors
// (which close the connection), version refusal (which does not), streams.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>
#include <string>

#include "control/server.hpp"

namespace ratelimit {
namespace {

struct Recorder : ControlServer::Handler {
    ControlServer* srv = nullptr;
    std::vector<Request> reqs;
    int stream_ends = 0;
    void onRequest(ConnId c, const Peer& p, const Request& r) override {
        reqs.push_back(r);
        if (r.cmd == "echo") srv->reply(c, r.id, Json{{"args", r.args}, {"uid", p.uid}});
        else if (r.cmd == "sub") srv->startStream(c, r.id);
        else srv->replyError(c, r.id, "ENOTSUP", "unknown");
    }
    void onStreamEnd(ConnId) override { ++stream_ends; }
};

class ControlServerTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/rl-ctl-test-XXXXXX";
        dir_ = mkdtemp(tmpl);
        path_ = dir_ + "/sock";
        auto s = ControlServer::listen(path_, 0600, static_cast<gid_t>(-1), &rec_);
        ASSERT_TRUE(s.ok()) << s.error().message();
        srv_ = std::move(*s);
        rec_.srv = srv_.get();
    }
    void TearDown() override {
        srv_.reset();
        rmdir(dir_.c_str());
    }
    int connectClient() {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path_.c_str());
        EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
        timeval tv{0, 200000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        return fd;
    }
    void pump() {
        for (int i = 0; i < 5; ++i) srv_->dispatch();
    }
    // One line from fd, "" on EOF/timeout.
    std::string readLine(int fd) {
        std::string line;
        char ch;
        while (recv(fd, &ch, 1, 0) == 1) {
            if (ch == '\n') return line;
            line += ch;
        }
        return line;
    }
    void sendStr(int fd, const std::string& s) { ASSERT_EQ(send(fd, s.data(), s.size(), MSG_NOSIGNAL), (ssize_t)s.size()); }

    std::string dir_, path_;
    Recorder rec_;
    std::unique_ptr<ControlServer> srv_;
};

TEST_F(ControlServerTest, RequestGetsReplyWithIdAndArgs) {
    int fd = connectClient();
    pump();
    sendStr(fd, R"({"v":1,"id":7,"cmd":"echo","args":{"x":1}})" "\n");
    pump();
    Json r = Json::parse(readLine(fd));
    EXPECT_EQ(r["v"], 1);
    EXPECT_EQ(r["id"], 7);
    EXPECT_EQ(r["ok"], true);
    EXPECT_EQ(r["result"]["args"]["x"], 1);
    EXPECT_EQ(r["result"]["uid"], getuid());
    close(fd);
}

struct BadCase {
    const char* name;
    std::string line;
    std::string code;
    bool closes;
};

TEST_F(ControlServerTest, BadRequestsTable) {
    const std::vector<BadCase> cases = {
        {"not json", "hello", "EPROTO", true},
        {"array", "[1,2]", "EPROTO", true},
        {"no id", R"({"v":1,"cmd":"echo"})", "EPROTO", true},
        {"no cmd", R"({"v":1,"id":1})", "EPROTO", true},
        {"args not object", R"({"v":1,"id":1,"cmd":"echo","args":3})", "EPROTO", true},
        {"oversized", R"({"v":1,"id":1,"cmd":"echo","args":{"p":")" + std::string(70000, 'x') + "\"}}", "EPROTO", true},
        {"wrong version", R"({"v":2,"id":1,"cmd":"echo"})", "EPROTO", false},
        {"unknown command", R"({"v":1,"id":1,"cmd":"nope"})", "ENOTSUP", false},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        int fd = connectClient();
        pump();
        sendStr(fd, c.line + "\n");
        for (int i = 0; i < 20; ++i) srv_->dispatch();
        std::string resp = readLine(fd);
        ASSERT_FALSE(resp.empty());
        Json r = Json::parse(resp);
        EXPECT_EQ(r["ok"], false);
        EXPECT_EQ(r["error"]["code"], c.code);
        // does the connection still serve?
        send(fd, "{\"v\":1,\"id\":9,\"cmd\":\"echo\"}\n", 28, MSG_NOSIGNAL);
        pump();
        std::string next = readLine(fd);
        EXPECT_EQ(next.empty(), c.closes) << next;
        close(fd);
        pump();
    }
    EXPECT_EQ(srv_->connections(), 0u);
}

TEST_F(ControlServerTest, StreamEndsOnClientLineAndOnDisconnect) {
    int fd = connectClient();
    pump();
    sendStr(fd, R"({"v":1,"id":3,"cmd":"sub"})" "\n");
    pump();
    EXPECT_EQ(Json::parse(readLine(fd))["result"]["stream"], true);
    ConnId conn = 0;
    for (ConnId c = 1; c < 100; ++c)
        if (srv_->alive(c)) conn = c;
    ASSERT_NE(conn, 0u);
    ASSERT_TRUE(srv_->streamData(conn, 3, Json{{"n", 1}}));
    Json d = Json::parse(readLine(fd));
    EXPECT_EQ(d["stream"], true);
    EXPECT_EQ(d["id"], 3);
    EXPECT_EQ(d["data"]["n"], 1);
    sendStr(fd, "stop\n");
    pump();
    EXPECT_EQ(rec_.stream_ends, 1);
    EXPECT_EQ(rec_.reqs.size(), 1u);  // the line ending a stream is not a request
    sendStr(fd, R"({"v":1,"id":4,"cmd":"sub"})" "\n");
    pump();
    readLine(fd);
    close(fd);
    pump();
    EXPECT_EQ(rec_.stream_ends, 2);
    EXPECT_FALSE(srv_->streamData(conn, 4, Json::object()));
}

// A client that stops reading: pushes never block the server; after more than
// kSlowClientLimit with a full socket buffer the connection is dropped.
TEST_F(ControlServerTest, SlowClientIsDisconnected) {
    int fd = connectClient();
    pump();
    sendStr(fd, R"({"v":1,"id":5,"cmd":"sub"})" "\n");
    pump();
    ConnId conn = 0;
    for (ConnId c = 1; c < 100; ++c)
        if (srv_->alive(c)) conn = c;
    ASSERT_NE(conn, 0u);
    const Json big{{"pad", std::string(64 * 1024, 'x')}};
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 64 && srv_->alive(conn); ++i) srv_->streamData(conn, 5, big);  // 4 MiB, never read
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1)) << "pushing blocked";
    ASSERT_TRUE(srv_->alive(conn));
    srv_->tick();
    EXPECT_TRUE(srv_->alive(conn)) << "dropped before the limit";
    std::this_thread::sleep_for(kSlowClientLimit + std::chrono::milliseconds(200));
    srv_->tick();
    EXPECT_FALSE(srv_->alive(conn));
    EXPECT_EQ(rec_.stream_ends, 1);
    close(fd);
}

}  // namespace
}  // namespace ratelimit
