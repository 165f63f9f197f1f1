// Whole-map reads for the metrics exporter: sum per-CPU counters, count entries
// of (LRU) hash maps, read small arrays. Every function takes a map fd that the
// caller keeps open; nothing here owns a kernel resource.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "ratelimit/abi.h"
#include "util/result.hpp"

namespace ratelimit {

// Entries fetched per BPF_MAP_LOOKUP_BATCH syscall. Bounds the scratch buffers
// (keys + values) to a few hundred KiB for the state maps.
inline constexpr uint32_t kBatchEntries = 65536;

struct MapInfo {
    uint32_t type = 0;
    uint32_t key_size = 0;
    uint32_t value_size = 0;
    uint32_t max_entries = 0;
};
Result<MapInfo> mapInfo(int fd);

// Number of possible CPUs: the stride of per-CPU map values.
Result<int> possibleCpus();

// rl_stats: entry i summed over CPUs. `entries` = RL_STATS_ENTRIES.
Result<std::vector<rl_counter>> sumPerCpuCounters(int fd, uint32_t entries);
// rl_gstats: entry i summed over CPUs.
Result<std::vector<uint64_t>> sumPerCpuU64(int fd, uint32_t entries);

// Plain array maps (rl_cfg, rl_rulemeta): entries 0..n-1.
Result<rl_config> readConfigEntry(int fd);
Result<std::vector<rl_rule_meta>> readRuleMeta(int fd, uint32_t entries);

// Counts the entries of a hash / LRU hash map with BPF_MAP_LOOKUP_BATCH. With a
// predicate, counts only entries whose value satisfies it. Concurrent updates
// by the XDP program make the result a snapshot "during" the walk, not "at" an
// instant; batch iteration walks buckets, so an eviction never restarts it.
using ValuePredicate = std::function<bool(const void* value)>;
Result<uint64_t> countEntriesBatch(int fd, const ValuePredicate& pred = {});

// The same with BPF_MAP_GET_NEXT_KEY, one syscall per entry. Kept to compare the
// two (tests/bpf/collector_test.cpp); if the current key is evicted mid-walk the
// kernel restarts from the first key, so under churn this may over-count.
Result<uint64_t> countEntriesNextKey(int fd);

}  // namespace ratelimit
