// Leveled logging to stderr. Under systemd (JOURNAL_STREAM set) every line
// carries an sd-daemon priority prefix ("<3>") so journald keeps the level.
#pragma once

#include <cstdarg>
#include <string>

namespace ratelimit {

enum class LogLevel { Debug = 0, Info = 1, Warn = 2, Error = 3 };

void setLogLevel(LogLevel level);
LogLevel logLevel();
// "debug" | "info" | "warn"/"warning" | "error"; false if unknown.
bool parseLogLevel(const std::string& text, LogLevel* out);

void logMsg(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void logVa(LogLevel level, const char* fmt, va_list ap);

#define RL_LOG_DEBUG(...) ::ratelimit::logMsg(::ratelimit::LogLevel::Debug, __VA_ARGS__)
#define RL_LOG_INFO(...) ::ratelimit::logMsg(::ratelimit::LogLevel::Info, __VA_ARGS__)
#define RL_LOG_WARN(...) ::ratelimit::logMsg(::ratelimit::LogLevel::Warn, __VA_ARGS__)
#define RL_LOG_ERROR(...) ::ratelimit::logMsg(::ratelimit::LogLevel::Error, __VA_ARGS__)

}  // namespace ratelimit
