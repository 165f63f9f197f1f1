// Human output for ratelimitctl: aligned tables and units. Every number shown
// to an operator carries its unit; --json output never goes through here.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ratelimit::cli {

class Table {
public:
    enum class Align { Left, Right };
    // Header names; a trailing '>' in a name right-aligns the column (numbers).
    explicit Table(std::vector<std::string> headers);
    void add(std::vector<std::string> row);
    bool empty() const { return rows_.empty(); }
    // Columns separated by two spaces; the last column is not padded.
    void print(std::ostream& out, const std::string& indent = "") const;

private:
    std::vector<std::string> headers_;
    std::vector<Align> align_;
    std::vector<std::vector<std::string>> rows_;
};

// 950, 12.3k, 4.56M, 7.89G: three significant digits from 10 000 up.
std::string fmtCount(double v);
// 512 B, 1.50 KiB, 3.20 MiB (IEC).
std::string fmtBytes(double bytes);
// Bytes per second shown as bits per second: 9.60 Mbit/s.
std::string fmtBitRate(double bytesPerSec);
// Packets per second: 0, 3.2, 950, 12.3k (no unit; the column says pps).
std::string fmtPerSec(double v);
// Seconds as 350ms, 12s, 4m05s, 2h03m, 3d04h; negative/NaN -> "-".
std::string fmtDuration(double seconds);
// A rate as "1000/s", "6000/min", "10/h" from count per period_ns.
std::string fmtRate(uint64_t count, uint64_t periodNs);
// Percentage with one decimal: "12.5%".
std::string fmtPercent(double part, double whole);

// Tolerant accessors for daemon JSON (missing or wrong type -> fallback).
double num(const nlohmann::json& j, const char* key, double fallback = 0);
std::string str(const nlohmann::json& j, const char* key, const std::string& fallback = "-");
// Any scalar as text: strings unquoted, numbers as written, null -> "-".
std::string scalar(const nlohmann::json& j);
// A list of scalars as "a,b,c" ("-" when empty or missing).
std::string joinList(const nlohmann::json& j, const char* sep = ",");

// Reason and event-type names (abi.h tables) for numeric fields.
std::string reasonName(const nlohmann::json& v);
std::string eventTypeName(const nlohmann::json& v);
std::string algoName(const nlohmann::json& v);

// One meter (a tier or a rule's global ceiling) from rules.list, e.g.
// "token_bucket 1000/s burst 2000, /24".
std::string describeMeter(const nlohmann::json& meter);

// Per-reason counters ({reason: {packets, bytes}}) as a table in abi.h order,
// zero rows left out (defined in status.cpp).
void printReasonCounters(const nlohmann::json& counters, const std::string& indent);

}  // namespace ratelimit::cli
