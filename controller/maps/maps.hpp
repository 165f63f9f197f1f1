// Typed wrappers over the program's maps: the only code calling bpf_map_*.
// Fds are borrowed from the Loader, which outlives these objects.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "loader/loader.hpp"
#include "ratelimit/abi.h"
#include "util/fd.hpp"
#include "util/result.hpp"

struct ring_buffer;

namespace ratelimit {

using Lpm4Image = std::map<std::pair<uint32_t, __be32>, rl_match_set>;
using Lpm6Image = std::map<std::pair<uint32_t, std::array<uint8_t, 16>>, rl_match_set>;

struct LpmDiffStats {
    size_t added = 0, updated = 0, removed = 0, unchanged = 0;
};

struct TalkerSample {
    rl_talker_key key{};
    uint64_t packets = 0, bytes = 0, dropped = 0;  // summed over CPUs, sampled counts
    uint32_t rule_id = 0;
};

class Maps {
public:
    explicit Maps(const MapFds& fds);

    unsigned possibleCpus() const { return ncpus_; }

    Result<rl_config> readConfig() const;
    Status writeConfig(const rl_config& cfg);
    // rl_lpmhint, all RL_HINT_ENTRIES words (abi.h "LPM hint").
    Result<std::vector<uint64_t>> readHint() const;
    Status writeHint(const std::vector<uint64_t>& words);

    Result<rl_rule> readRule(uint32_t id) const;
    // Writes only the slots whose bytes differ; returns how many were written.
    Result<size_t> writeRules(const std::vector<rl_rule>& rules);
    // Zeroes a rule's rule-wide meter state (rl_global, rl_admit): full buckets.
    Status resetRuleMeters(uint32_t id);
    Result<std::vector<rl_rule_meta>> readRuleMeta() const;
    Result<size_t> writeRuleMeta(const std::vector<rl_rule_meta>& meta);

    // Make the LPM trie equal to `want`: delete removed, update changed, add new.
    Result<LpmDiffStats> applyLpm4(const Lpm4Image& want);
    Result<LpmDiffStats> applyLpm6(const Lpm6Image& want);
    // Longest-prefix match of a full address (what the fast path sees).
    std::optional<rl_match_set> matchLpm4(__be32 addr) const;
    std::optional<rl_match_set> matchLpm6(const std::array<uint8_t, 16>& addr) const;

    std::optional<rl_state> lookupState4(const rl_key4& k) const;
    std::optional<rl_state> lookupState6(const rl_key6& k) const;
    std::optional<rl_block> lookupBlock4(const rl_key4& k) const;
    std::optional<rl_block> lookupBlock6(const rl_key6& k) const;
    // Entries in a hash map, by walking its keys (O(n) syscalls in batches).
    Result<uint64_t> countState4() const;
    Result<uint64_t> countState6() const;
    Result<uint64_t> countBlock4() const;
    Result<uint64_t> countBlock6() const;
    uint32_t capacity(int fd) const;
    uint32_t capacityState4() const { return capacity(fds_.state4); }
    uint32_t capacityState6() const { return capacity(fds_.state6); }

    Status setOverride4(__be32 addr, const rl_override& o);
    Status deleteOverride4(__be32 addr);
    Status setOverride6(const std::array<uint8_t, 16>& addr, const rl_override& o);
    Status deleteOverride6(const std::array<uint8_t, 16>& addr);

    // Per-CPU counters summed over all possible CPUs.
    Result<std::vector<rl_counter>> readStats() const;   // RL_STATS_ENTRIES cells
    Result<std::vector<uint64_t>> readGlobalCounters() const;  // RL_GC__MAX
    Result<std::vector<TalkerSample>> readTalkers() const;
    Status deleteTalker(const rl_talker_key& k);

    const MapFds& fds() const { return fds_; }

private:
    Result<uint64_t> countKeys(int fd, size_t key_size) const;
    template <typename K>
    Result<LpmDiffStats> applyLpm(int fd, const std::map<K, rl_match_set>& want,
                                  const std::function<K(const void*)>& fromKey,
                                  const std::function<void(const K&, void*)>& toKey, size_t key_size);

    MapFds fds_;
    unsigned ncpus_;
};

// Owner of a libbpf ring buffer consumer on rl_events.
class EventReader {
public:
    using Handler = std::function<void(const rl_event&)>;
    static Result<std::unique_ptr<EventReader>> open(int map_fd, Handler h);
    ~EventReader();
    EventReader(const EventReader&) = delete;
    EventReader& operator=(const EventReader&) = delete;
    int epollFd() const;   // becomes readable when events are pending
    int consume();         // handles pending events; returns count or -errno

private:
    EventReader() = default;
    static int onSample(void* ctx, void* data, size_t size);
    ring_buffer* rb_ = nullptr;
    Handler handler_;
};

}  // namespace ratelimit
