#include "maps/map_scan.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace ratelimit {
namespace {

// Per-CPU values are laid out with an 8-byte stride per CPU.
constexpr size_t roundUp8(size_t n) { return (n + 7) & ~size_t{7}; }

// Batch tokens are a bucket index (hash) or key (array): room for either.
constexpr size_t kBatchTokenBytes = 64;

// Walks a map with BPF_MAP_LOOKUP_BATCH, calling fn(keys, values, count) per chunk.
template <typename Fn>
Status forEachBatch(int fd, const MapInfo& info, size_t value_bytes, Fn&& fn) {
    uint32_t chunk = std::min(kBatchEntries, std::max<uint32_t>(info.max_entries, 1));
    std::vector<uint8_t> keys(size_t{chunk} * info.key_size);
    std::vector<uint8_t> values(size_t{chunk} * value_bytes);
    alignas(8) uint8_t in_tok[kBatchTokenBytes] = {};
    alignas(8) uint8_t out_tok[kBatchTokenBytes] = {};
    bool first = true;
    for (;;) {
        uint32_t count = chunk;
        int rc = bpf_map_lookup_batch(fd, first ? nullptr : in_tok, out_tok, keys.data(),
                                      values.data(), &count, nullptr);
        int err = rc < 0 ? errno : 0;
        if (rc < 0 && err != ENOENT) {
            if (err == ENOSPC && count == 0 && chunk < info.max_entries) {
                // a bucket holds more entries than fit: grow and retry this bucket
                chunk = std::min(info.max_entries, chunk * 2);
                keys.resize(size_t{chunk} * info.key_size);
                values.resize(size_t{chunk} * value_bytes);
                continue;
            }
            return sysError("bpf_map_lookup_batch", "fd " + std::to_string(fd), err);
        }
        fn(keys.data(), values.data(), count);
        if (err == ENOENT)  // walked past the last entry
            return {};
        std::memcpy(in_tok, out_tok, sizeof(in_tok));
        first = false;
    }
}

template <typename T>
Result<std::vector<T>> readArray(int fd, uint32_t entries, const char* what) {
    std::vector<T> out(entries);
    for (uint32_t i = 0; i < entries; i++) {
        if (bpf_map_lookup_elem(fd, &i, &out[i]) < 0)
            return sysError("bpf_map_lookup_elem", std::string(what) + "[" + std::to_string(i) + "]");
    }
    return out;
}

}  // namespace

Result<MapInfo> mapInfo(int fd) {
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
        return sysError("bpf_obj_get_info_by_fd", "map fd " + std::to_string(fd));
    return MapInfo{info.type, info.key_size, info.value_size, info.max_entries};
}

Result<int> possibleCpus() {
    int n = libbpf_num_possible_cpus();
    if (n <= 0)
        return sysError("libbpf_num_possible_cpus", {}, -n);
    return n;
}

Result<std::vector<rl_counter>> sumPerCpuCounters(int fd, uint32_t entries) {
    auto cpus = possibleCpus();
    if (!cpus) return cpus.error();
    auto info = mapInfo(fd);
    if (!info) return info.error();
    const size_t stride = roundUp8(sizeof(rl_counter));
    std::vector<rl_counter> sum(entries);
    // The array is small (RL_STATS_ENTRIES * CPUs cells): one batch walk, a few syscalls.
    Status st = forEachBatch(fd, *info, stride * *cpus,
                             [&](const uint8_t* keys, const uint8_t* values, uint32_t n) {
        for (uint32_t i = 0; i < n; i++) {
            uint32_t k;
            std::memcpy(&k, keys + size_t{i} * sizeof(uint32_t), sizeof(k));
            if (k >= entries) continue;
            for (int c = 0; c < *cpus; c++) {
                rl_counter cell;
                std::memcpy(&cell, values + (size_t{i} * *cpus + c) * stride, sizeof(cell));
                sum[k].packets += cell.packets;
                sum[k].bytes += cell.bytes;
            }
        }
    });
    if (!st) return st.error();
    return sum;
}

Result<std::vector<uint64_t>> sumPerCpuU64(int fd, uint32_t entries) {
    auto cpus = possibleCpus();
    if (!cpus) return cpus.error();
    std::vector<uint64_t> sum(entries);
    std::vector<uint64_t> cells(static_cast<size_t>(*cpus));
    for (uint32_t i = 0; i < entries; i++) {
        if (bpf_map_lookup_elem(fd, &i, cells.data()) < 0)
            return sysError("bpf_map_lookup_elem", "rl_gstats[" + std::to_string(i) + "]");
        for (uint64_t v : cells) sum[i] += v;
    }
    return sum;
}

Result<rl_config> readConfigEntry(int fd) {
    auto v = readArray<rl_config>(fd, 1, RL_MAP_CFG);
    if (!v) return v.error();
    return v->front();
}

Result<std::vector<rl_rule_meta>> readRuleMeta(int fd, uint32_t entries) {
    return readArray<rl_rule_meta>(fd, entries, RL_MAP_RULEMETA);
}

Result<uint64_t> countEntriesBatch(int fd, const ValuePredicate& pred) {
    auto info = mapInfo(fd);
    if (!info) return info.error();
    uint64_t n = 0;
    Status st = forEachBatch(fd, *info, info->value_size,
                             [&](const uint8_t*, const uint8_t* values, uint32_t count) {
        if (!pred) {
            n += count;
            return;
        }
        for (uint32_t i = 0; i < count; i++)
            if (pred(values + size_t{i} * info->value_size)) n++;
    });
    if (!st) return st.error();
    return n;
}

Result<uint64_t> countEntriesNextKey(int fd) {
    auto info = mapInfo(fd);
    if (!info) return info.error();
    std::vector<uint8_t> cur(info->key_size), next(info->key_size);
    uint64_t n = 0;
    const void* prev = nullptr;
    // Bounded: a map never yields more than max_entries keys in one pass; the
    // bound only matters if restarts after evictions keep the walk going.
    for (uint64_t guard = 0; guard <= 2ull * info->max_entries; guard++) {
        if (bpf_map_get_next_key(fd, prev, next.data()) < 0) {
            if (errno == ENOENT) return n;
            return sysError("bpf_map_get_next_key", "fd " + std::to_string(fd));
        }
        n++;
        cur.swap(next);
        prev = cur.data();
    }
    return invalid("bpf_map_get_next_key", "walk did not terminate (map churning)");
}

}  // namespace ratelimit
