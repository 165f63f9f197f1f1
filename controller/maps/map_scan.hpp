// Whole-map walks for the metrics exporter that the typed wrappers in maps.hpp
// do not offer: counting entries by value (live penalty-box entries) and the
// get_next_key walk kept for comparison. Every function takes a map fd that the
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
// (keys + values) to at most 768 KiB for the state maps.
inline constexpr uint32_t kBatchEntries = 16384;

// Counts the entries of a hash / LRU hash map with BPF_MAP_LOOKUP_BATCH. With a
// predicate, counts only entries whose value satisfies it. Concurrent updates
// by the XDP program make the result a snapshot "during" the walk, not "at" an
// instant; batch iteration walks buckets, so an eviction never restarts it.
using ValuePredicate = std::function<bool(const void* value)>;

// Walks a hash map with BPF_MAP_LOOKUP_BATCH, calling fn(key, value) per entry.
// value_bytes: bytes per value as the syscall returns them (per-CPU maps: one
// 8-byte-aligned slot per possible CPU).
using EntryFn = std::function<void(const void* key, const void* value)>;
Status forEachEntry(int fd, size_t value_bytes, const EntryFn& fn);
Result<uint64_t> countEntriesBatch(int fd, const ValuePredicate& pred = {});

// The same with BPF_MAP_GET_NEXT_KEY, one syscall per entry. Kept to compare the
// two (tests/bpf/collector_test.cpp); if the current key is evicted mid-walk the
// kernel restarts from the first key, so under churn this may over-count.
Result<uint64_t> countEntriesNextKey(int fd);

}  // namespace ratelimit
