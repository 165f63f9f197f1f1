// control::Client against a scripted peer on a real Unix socket: framing,
// ids, error replies, timeouts, streams and cancellation.
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <string>
#include <thread>

#include "control/client.hpp"

namespace ratelimit::control {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// A listening socket in a fresh temp dir; serve() runs `script` on the first
// accepted connection in a thread.
class ScriptedServer {
public:
    ScriptedServer() {
        char tmpl[] = "/tmp/rl-client-test-XXXXXX";
        dir_ = ::mkdtemp(tmpl);
        path_ = dir_ + "/ctl.sock";
        listen_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path_.c_str());
        EXPECT_EQ(::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
        EXPECT_EQ(::listen(listen_, 4), 0);
    }
    ~ScriptedServer() {
        if (thread_.joinable()) thread_.join();
        ::close(listen_);
        ::unlink(path_.c_str());
        ::rmdir(dir_.c_str());
    }
    const std::string& path() const { return path_; }

    void serve(std::function<void(int fd)> script) {
        thread_ = std::thread([this, script = std::move(script)] {
            int fd = ::accept(listen_, nullptr, nullptr);
            if (fd < 0) return;
            script(fd);
            ::close(fd);
        });
    }

    static std::string readLine(int fd) {
        std::string line;
        char c;
        while (::read(fd, &c, 1) == 1 && c != '\n') line += c;
        return line;
    }
    static void write(int fd, const std::string& s) {
        ASSERT_EQ(::write(fd, s.data(), s.size()), static_cast<ssize_t>(s.size()));
    }

private:
    std::string dir_, path_;
    int listen_ = -1;
    std::thread thread_;
};

TEST(ControlClient, MissingSocketIsENOENT) {
    auto c = Client::connect("/tmp/rl-client-test-does-not-exist.sock", 1s);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().err, ENOENT);
    EXPECT_EQ(c.error().context, "/tmp/rl-client-test-does-not-exist.sock");
}

TEST(ControlClient, StaleSocketIsECONNREFUSED) {
    // A socket file whose socket was closed: the file stays, nobody listens.
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    char tmpl[] = "/tmp/rl-client-test-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    std::string path = dir + "/stale.sock";
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ::close(fd);
    auto c = Client::connect(path, 1s);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().err, ECONNREFUSED);
    ::unlink(path.c_str());
    ::rmdir(dir.c_str());
}

TEST(ControlClient, RequestFramingAndResult) {
    ScriptedServer s;
    json seen;
    s.serve([&](int fd) {
        seen = json::parse(ScriptedServer::readLine(fd));
        // Answer in two writes to exercise line reassembly.
        std::string reply = json{{"v", 1}, {"id", seen["id"]}, {"ok", true},
                                 {"result", {{"generation", 7}}}}.dump() + "\n";
        ScriptedServer::write(fd, reply.substr(0, 10));
        std::this_thread::sleep_for(20ms);
        ScriptedServer::write(fd, reply.substr(10));
    });
    auto c = Client::connect(s.path(), 2s);
    ASSERT_TRUE(c.ok()) << c.error().message();
    auto r = c->call("rules.delete", {{"name", "web"}});
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_TRUE(r->ok);
    EXPECT_EQ(r->result["generation"], 7);
    EXPECT_EQ(seen["v"], 1);
    EXPECT_EQ(seen["cmd"], "rules.delete");
    EXPECT_EQ(seen["args"]["name"], "web");
    EXPECT_TRUE(seen["id"].is_number_integer());
}

TEST(ControlClient, EmptyArgsAreOmitted) {
    ScriptedServer s;
    json seen;
    s.serve([&](int fd) {
        seen = json::parse(ScriptedServer::readLine(fd));
        ScriptedServer::write(fd, json{{"v", 1}, {"id", seen["id"]}, {"ok", true}, {"result", json::object()}}.dump() + "\n");
    });
    auto c = Client::connect(s.path(), 2s);
    ASSERT_TRUE(c.ok());
    auto r = c->call("status");
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(seen.contains("args"));
}

TEST(ControlClient, ErrorReplyIsAReplyNotATransportError) {
    ScriptedServer s;
    s.serve([&](int fd) {
        json req = json::parse(ScriptedServer::readLine(fd));
        ScriptedServer::write(fd, json{{"v", 1}, {"id", req["id"]}, {"ok", false},
                                       {"error", {{"code", "ENOENT"}, {"message", "rules.delete: no rule named 'x'"}}}}
                                      .dump() + "\n");
    });
    auto c = Client::connect(s.path(), 2s);
    ASSERT_TRUE(c.ok());
    auto r = c->call("rules.delete", {{"name", "x"}});
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_FALSE(r->ok);
    EXPECT_EQ(r->code, "ENOENT");
    EXPECT_EQ(r->message, "rules.delete: no rule named 'x'");
}

TEST(ControlClient, SilentServerTimesOut) {
    ScriptedServer s;
    int efd = ::eventfd(0, EFD_CLOEXEC);
    s.serve([&](int fd) {
        ScriptedServer::readLine(fd);
        uint64_t v;
        ASSERT_EQ(::read(efd, &v, sizeof(v)), 8);  // hold the connection until the client gave up
    });
    auto c = Client::connect(s.path(), 200ms);
    ASSERT_TRUE(c.ok());
    auto r = c->call("status");
    uint64_t one = 1;
    ASSERT_EQ(::write(efd, &one, sizeof(one)), 8);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().err, ETIMEDOUT);
    ::close(efd);
}

TEST(ControlClient, GarbageAndClosedConnectionAreErrors) {
    for (const std::string& answer : {std::string("not json\n"), std::string()}) {
        ScriptedServer s;
        s.serve([&](int fd) {
            ScriptedServer::readLine(fd);
            if (!answer.empty()) ScriptedServer::write(fd, answer);
        });
        auto c = Client::connect(s.path(), 2s);
        ASSERT_TRUE(c.ok());
        auto r = c->call("status");
        EXPECT_FALSE(r.ok()) << "answer: '" << answer << "'";
    }
}

TEST(ControlClient, StreamDeliversDataThenCancelAndClose) {
    ScriptedServer s;
    int go = ::eventfd(0, EFD_CLOEXEC);
    s.serve([&](int fd) {
        json req = json::parse(ScriptedServer::readLine(fd));
        auto line = [&](json j) { ScriptedServer::write(fd, j.dump() + "\n"); };
        line({{"v", 1}, {"id", req["id"]}, {"ok", true}, {"result", {{"stream", true}}}});
        // Two data lines in one write, a third split.
        std::string two = json{{"v", 1}, {"id", req["id"]}, {"stream", true}, {"data", {{"n", 1}}}}.dump() + "\n" +
                          json{{"v", 1}, {"id", req["id"]}, {"stream", true}, {"data", {{"n", 2}}}}.dump() + "\n";
        ScriptedServer::write(fd, two);
        uint64_t v;
        ASSERT_EQ(::read(go, &v, sizeof(v)), 8);  // until the client has tested cancellation
        line({{"v", 1}, {"id", req["id"]}, {"stream", true}, {"data", {{"n", 3}}}});
    });
    auto c = Client::connect(s.path(), 2s);
    ASSERT_TRUE(c.ok());
    auto first = c->subscribe("events.subscribe");
    ASSERT_TRUE(first.ok());
    ASSERT_TRUE(first->ok);
    EXPECT_EQ(first->result["stream"], true);

    int cancel = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    for (int n = 1; n <= 2; ++n) {
        auto item = c->next(cancel);
        ASSERT_TRUE(item.ok());
        ASSERT_EQ(item->kind, StreamItem::Kind::Data);
        EXPECT_EQ(item->data["n"], n);
    }
    uint64_t one = 1;
    ASSERT_EQ(::write(cancel, &one, sizeof(one)), 8);
    auto cancelled = c->next(cancel);
    ASSERT_TRUE(cancelled.ok());
    EXPECT_EQ(cancelled->kind, StreamItem::Kind::Cancelled);
    ::close(cancel);

    ASSERT_EQ(::write(go, &one, sizeof(one)), 8);
    auto third = c->next(-1);
    ASSERT_TRUE(third.ok());
    ASSERT_EQ(third->kind, StreamItem::Kind::Data);
    EXPECT_EQ(third->data["n"], 3);
    auto closed = c->next(-1);
    ASSERT_TRUE(closed.ok());
    EXPECT_EQ(closed->kind, StreamItem::Kind::Closed);
    ::close(go);
}

}  // namespace
}  // namespace ratelimit::control

namespace ratelimit::control {
namespace {

// endStream: an empty line ends the stream, then a `status` whose answer
// proves the daemon processed it; stream lines still in flight are skipped.
TEST(ControlClient, EndStreamSendsALineAndWaitsForAnAck) {
    ScriptedServer s;
    std::string endLine;
    json ackReq;
    s.serve([&](int fd) {
        json req = json::parse(ScriptedServer::readLine(fd));
        ScriptedServer::write(fd, json{{"v", 1}, {"id", req["id"]}, {"ok", true}, {"result", {{"stream", true}}}}.dump() + "\n");
        endLine = ScriptedServer::readLine(fd);
        ackReq = json::parse(ScriptedServer::readLine(fd));
        ScriptedServer::write(fd, json{{"v", 1}, {"id", req["id"]}, {"stream", true}, {"data", {{"late", true}}}}.dump() + "\n");
        ScriptedServer::write(fd, json{{"v", 1}, {"id", ackReq["id"]}, {"ok", true}, {"result", json::object()}}.dump() + "\n");
    });
    auto c = Client::connect(s.path(), 2s);
    ASSERT_TRUE(c.ok());
    auto first = c->subscribe("stats.subscribe", {{"interval_ms", 100}});
    ASSERT_TRUE(first.ok() && first->ok);
    auto ended = c->endStream();
    EXPECT_TRUE(ended.ok()) << ended.error().message();
    EXPECT_EQ(endLine, "");
    EXPECT_EQ(ackReq["cmd"], "status");
}

}  // namespace
}  // namespace ratelimit::control
