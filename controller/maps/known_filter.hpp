// The known-key filter rl_known (abi.h "Known-key filter"): user space builds
// it from the state tables and keeps it from filling up with the bits of
// evicted keys. Owns the map's shared mapping; the fds are the Loader's.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "loader/loader.hpp"
#include "ratelimit/abi.h"
#include "util/result.hpp"

namespace ratelimit {

class KnownFilter {
public:
    using Clock = std::chrono::steady_clock;

    struct BuildStats {
        uint64_t keys = 0;     // state keys walked
        double fill = 0;       // set bits / bits of the half made active
        uint32_t half = 0;     // the half made active (0 or 1)
    };

    // Rebuild when the active half is at least kRebuildFill full and grew by
    // kRebuildGrowth since it was built (evicted keys' bits pile up), at most
    // once per kRebuildEvery.
    static constexpr double kRebuildFill = 0.20;
    static constexpr double kRebuildGrowth = 0.10;
    static constexpr std::chrono::seconds kRebuildEvery{10};

    static Result<std::unique_ptr<KnownFilter>> open(const MapFds& fds);
    ~KnownFilter();
    KnownFilter(const KnownFilter&) = delete;
    KnownFilter& operator=(const KnownFilter&) = delete;

    // Zeroes the inactive half, sets the bit of every key of rl_state4/6 in it,
    // then makes it the active one. Safe while the fast path runs: keys it
    // inserts meanwhile set their own bits.
    Result<BuildStats> rebuild();
    // Builds when not built yet, or when the policy above says so; returns
    // whether it rebuilt.
    Result<bool> maintain(Clock::time_point now);

    bool built() const;
    double fill() const;   // of the active half; 0 while not built
    const BuildStats& lastBuild() const { return last_; }

private:
    KnownFilter() = default;
    rl_known* k_ = nullptr;
    size_t len_ = 0;
    int state4_ = -1, state6_ = -1;
    BuildStats last_;
    Clock::time_point built_at_{};
};

}  // namespace ratelimit
