#include "cli/common.hpp"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <iostream>

#include "config/config.hpp"
#include "util/net.hpp"

namespace ratelimit::cli {

using nlohmann::json;

namespace {

// Blocks SIGINT/SIGTERM/SIGHUP for the lifetime of a stream and delivers them
// through a signalfd that the client polls next to the socket: Ctrl-C ends the
// loop like any other event, so destructors (terminal restore) run normally.
class SignalFd {
public:
    SignalFd() {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &set, &old_) == 0) {
            blocked_ = true;
            fd_ = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
        }
    }
    ~SignalFd() {
        if (fd_ >= 0) {
            // Consume what ended the stream, so that unblocking does not
            // deliver it again (and kill us with it).
            signalfd_siginfo info;
            while (::read(fd_, &info, sizeof(info)) == sizeof(info)) {
            }
            ::close(fd_);
        }
        if (blocked_) sigprocmask(SIG_SETMASK, &old_, nullptr);
    }
    SignalFd(const SignalFd&) = delete;
    SignalFd& operator=(const SignalFd&) = delete;
    int fd() const { return fd_; }

private:
    sigset_t old_{};
    bool blocked_ = false;
    int fd_ = -1;
};

std::chrono::milliseconds timeoutOf(const Globals& g) {
    auto ns = parseDurationNs(g.timeout);
    if (!ns || *ns == 0) return std::chrono::milliseconds(5000);
    return std::chrono::milliseconds(std::max<uint64_t>(1, *ns / 1'000'000));
}

CLI::Validator fromParser(std::function<std::string(const std::string&)> check, std::string name) {
    return CLI::Validator(
        [check = std::move(check)](std::string& value) { return check(value); }, std::move(name));
}

}  // namespace

int fail(const std::string& message) {
    std::cerr << "ratelimitctl: " << message << '\n';
    return kExitError;
}

std::optional<control::Client> connectOrReport(const Globals& g) {
    auto client = control::Client::connect(g.socket, timeoutOf(g));
    if (client) return std::move(client.value());
    const Error& e = client.error();
    if (e.err == ENOENT || e.err == ECONNREFUSED) {
        std::string why = e.err == ENOENT ? "no socket at " + g.socket
                                          : "nothing listens on " + g.socket;
        fail("ratelimitd is not running (" + why +
             "). Start it with: systemctl start ratelimitd, or ratelimitd --config "
             "/etc/ratelimit/ratelimit.yaml");
    } else if (e.err == EACCES || e.err == EPERM) {
        fail("permission denied on " + g.socket +
             ": run as root or as a member of the control group (control.group in the config)");
    } else {
        fail("cannot connect to ratelimitd: " + e.message());
    }
    return std::nullopt;
}

int request(const Globals& g, const std::string& cmd, const json& args,
            const std::function<void(const json&)>& text) {
    auto client = connectOrReport(g);
    if (!client) return kExitError;
    auto reply = client->call(cmd, args);
    if (!reply) return fail(reply.error().message());
    if (!reply->ok) return fail(reply->message);
    if (g.json)
        std::cout << reply->result.dump(2) << '\n';
    else
        text(reply->result);
    std::cout.flush();
    return kExitOk;
}

int stream(const Globals& g, const std::string& cmd, const json& args,
           const std::function<void(const json&)>& onData) {
    SignalFd signals;
    auto client = connectOrReport(g);
    if (!client) return kExitError;
    auto first = client->subscribe(cmd, args);
    if (!first) return fail(first.error().message());
    if (!first->ok) return fail(first->message);
    for (;;) {
        auto item = client->next(signals.fd());
        if (!item) return fail(item.error().message());
        switch (item->kind) {
        case control::StreamItem::Kind::Cancelled:
            (void)client->endStream();  // best effort: we are leaving anyway
            return kExitOk;
        case control::StreamItem::Kind::Closed:
            return fail("ratelimitd closed the " + cmd + " stream");
        case control::StreamItem::Kind::Data:
            if (g.json)
                std::cout << item->data.dump() << '\n';
            else
                onData(item->data);
            std::cout.flush();
            break;
        }
    }
}

CLI::Validator cidrValidator() {
    return fromParser(
        [](const std::string& v) {
            auto r = parseCidr(v);
            return r ? std::string() : r.error().message();
        },
        "CIDR");
}

CLI::Validator ipValidator() {
    return fromParser(
        [](const std::string& v) {
            auto r = parseIp(v);
            return r ? std::string() : r.error().message();
        },
        "IP");
}

CLI::Validator packetRateValidator() {
    return fromParser(
        [](const std::string& v) {
            auto r = parsePacketRate(v);
            return r ? std::string() : r.error().message();
        },
        "RATE");
}

CLI::Validator byteRateValidator() {
    return fromParser(
        [](const std::string& v) {
            auto r = parseByteRate(v);
            return r ? std::string() : r.error().message();
        },
        "RATE");
}

CLI::Validator durationValidator() {
    return fromParser(
        [](const std::string& v) {
            auto r = parseDurationNs(v);
            return r ? std::string() : r.error().message();
        },
        "DURATION");
}

CLI::Validator portRangeValidator() {
    return fromParser(
        [](const std::string& v) {
            auto parsePort = [](std::string_view s, unsigned& out) {
                auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
                return ec == std::errc() && p == s.data() + s.size() && out >= 1 && out <= 65535;
            };
            auto dash = v.find('-');
            unsigned lo = 0, hi = 0;
            bool ok = dash == std::string::npos
                          ? parsePort(v, lo)
                          : parsePort(std::string_view(v).substr(0, dash), lo) &&
                                parsePort(std::string_view(v).substr(dash + 1), hi) && lo <= hi;
            return ok ? std::string()
                      : "'" + v + "' is not a port (1-65535) or a range LO-HI with LO <= HI";
        },
        "PORT|LO-HI");
}

uint64_t durationMs(const std::string& text) {
    auto ns = parseDurationNs(text);
    return ns ? *ns / 1'000'000 : 0;
}

uint64_t durationSeconds(const std::string& text) {
    auto ns = parseDurationNs(text);
    return ns ? (*ns + 999'999'999) / 1'000'000'000 : 0;
}

LiveScreen::LiveScreen() : active_(::isatty(STDOUT_FILENO) == 1) {
    if (active_) std::cout << "\x1b[?1049h\x1b[?25l" << std::flush;
}

LiveScreen::~LiveScreen() {
    if (active_) std::cout << "\x1b[?25h\x1b[?1049l" << std::flush;
}

void LiveScreen::beginFrame() {
    if (active_) std::cout << "\x1b[H\x1b[2J";
}

}  // namespace ratelimit::cli
