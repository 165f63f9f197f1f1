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

struct MapInfo {
    uint32_t key_size = 0;
    uint32_t value_size = 0;
    uint32_t max_entries = 0;
};
Result<MapInfo> mapInfo(int fd) {
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
        return sysError("bpf_obj_get_info_by_fd", "map fd " + std::to_string(fd));
    return MapInfo{info.key_size, info.value_size, info.max_entries};
}

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

}  // namespace

Status forEachEntry(int fd, size_t value_bytes, const EntryFn& fn) {
    auto info = mapInfo(fd);
    if (!info) return info.error();
    return forEachBatch(fd, *info, value_bytes, [&](const uint8_t* keys, const uint8_t* values, uint32_t count) {
        for (uint32_t i = 0; i < count; i++) fn(keys + size_t{i} * info->key_size, values + i * value_bytes);
    });
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
