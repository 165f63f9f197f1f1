#include "util/log.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ratelimit {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::Info)};

const char* levelName(LogLevel l) {
    switch (l) {
    case LogLevel::Debug: return "debug";
    case LogLevel::Info: return "info";
    case LogLevel::Warn: return "warning";
    case LogLevel::Error: return "error";
    }
    return "?";
}

// syslog priorities understood by journald on stderr
int syslogPrio(LogLevel l) {
    switch (l) {
    case LogLevel::Debug: return 7;
    case LogLevel::Info: return 6;
    case LogLevel::Warn: return 4;
    case LogLevel::Error: return 3;
    }
    return 6;
}

}  // namespace

void setLogLevel(LogLevel level) { g_level = static_cast<int>(level); }
LogLevel logLevel() { return static_cast<LogLevel>(g_level.load()); }

bool parseLogLevel(const std::string& text, LogLevel* out) {
    if (text == "debug") *out = LogLevel::Debug;
    else if (text == "info") *out = LogLevel::Info;
    else if (text == "warn" || text == "warning") *out = LogLevel::Warn;
    else if (text == "error") *out = LogLevel::Error;
    else return false;
    return true;
}

void logVa(LogLevel level, const char* fmt, va_list ap) {
    if (static_cast<int>(level) < g_level.load()) return;
    char buf[2048];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == '\n') buf[--n] = '\0';
    static const bool journal = getenv("JOURNAL_STREAM") != nullptr;
    if (journal)
        fprintf(stderr, "<%d>%s\n", syslogPrio(level), buf);
    else
        fprintf(stderr, "ratelimitd: %s: %s\n", levelName(level), buf);
}

void logMsg(LogLevel level, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    logVa(level, fmt, ap);
    va_end(ap);
}

}  // namespace ratelimit
