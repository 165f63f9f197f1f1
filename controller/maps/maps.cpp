#include "maps/maps.hpp"
#include "maps/map_scan.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>

#include <cstring>
#include <string>

namespace ratelimit {
namespace {


template <typename V>
std::optional<V> lookup(int fd, const void* key) {
    V v{};
    if (bpf_map_lookup_elem(fd, key, &v) != 0) return std::nullopt;
    return v;
}

template <typename T>
Result<std::vector<T>> readPerCpu(int fd, uint32_t key, unsigned ncpus) {
    // per-CPU values are rounded up to 8 bytes each
    const size_t stride = (sizeof(T) + 7) & ~size_t{7};
    std::vector<uint8_t> buf(stride * ncpus);
    if (bpf_map_lookup_elem(fd, &key, buf.data()) != 0) return sysError("bpf_map_lookup_elem percpu");
    std::vector<T> out(ncpus);
    for (unsigned c = 0; c < ncpus; ++c) std::memcpy(&out[c], buf.data() + c * stride, sizeof(T));
    return out;
}

}  // namespace

Maps::Maps(const MapFds& fds) : fds_(fds) {
    int n = libbpf_num_possible_cpus();
    ncpus_ = n > 0 ? static_cast<unsigned>(n) : 1;
}

Result<rl_config> Maps::readConfig() const {
    __u32 k = 0;
    rl_config c{};
    if (bpf_map_lookup_elem(fds_.cfg, &k, &c) != 0) return sysError("bpf_map_lookup_elem", RL_MAP_CFG);
    return c;
}

Status Maps::writeConfig(const rl_config& cfg) {
    __u32 k = 0;
    if (bpf_map_update_elem(fds_.cfg, &k, &cfg, BPF_ANY) != 0) return sysError("bpf_map_update_elem", RL_MAP_CFG);
    return {};
}

Result<std::vector<uint64_t>> Maps::readHint() const {
    std::vector<uint64_t> words(RL_HINT_ENTRIES);
    for (uint32_t i = 0; i < RL_HINT_ENTRIES; i++)
        if (bpf_map_lookup_elem(fds_.lpmhint, &i, &words[i]) != 0) return sysError("bpf_map_lookup_elem", RL_MAP_LPMHINT);
    return words;
}

Status Maps::writeHint(const std::vector<uint64_t>& words) {
    if (words.size() != RL_HINT_ENTRIES) return invalid(RL_MAP_LPMHINT, "wrong number of words");
    std::vector<uint32_t> keys(RL_HINT_ENTRIES);
    for (uint32_t i = 0; i < RL_HINT_ENTRIES; i++) keys[i] = i;
    __u32 count = RL_HINT_ENTRIES;
    LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = 0, .flags = 0);
    if (bpf_map_update_batch(fds_.lpmhint, keys.data(), words.data(), &count, &opts) != 0 || count != RL_HINT_ENTRIES)
        return sysError("bpf_map_update_batch", RL_MAP_LPMHINT);
    return {};
}

Result<rl_rule> Maps::readRule(uint32_t id) const {
    rl_rule r{};
    if (bpf_map_lookup_elem(fds_.rules, &id, &r) != 0) return sysError("bpf_map_lookup_elem", RL_MAP_RULES);
    return r;
}

Result<size_t> Maps::writeRules(const std::vector<rl_rule>& rules) {
    size_t written = 0;
    for (uint32_t id = 0; id < rules.size() && id < RL_MAX_RULES; ++id) {
        rl_rule cur{};
        if (bpf_map_lookup_elem(fds_.rules, &id, &cur) == 0 && std::memcmp(&cur, &rules[id], sizeof(cur)) == 0)
            continue;
        if (bpf_map_update_elem(fds_.rules, &id, &rules[id], BPF_ANY) != 0)
            return sysError("bpf_map_update_elem", std::string(RL_MAP_RULES) + "[" + std::to_string(id) + "]");
        ++written;
    }
    return written;
}

Status Maps::resetRuleMeters(uint32_t id) {
    rl_state g{};
    rl_admit_state a{};
    if (bpf_map_update_elem(fds_.global, &id, &g, BPF_ANY) != 0)
        return sysError("bpf_map_update_elem", std::string(RL_MAP_GLOBAL) + "[" + std::to_string(id) + "]");
    if (bpf_map_update_elem(fds_.admit, &id, &a, BPF_ANY) != 0)
        return sysError("bpf_map_update_elem", std::string(RL_MAP_ADMIT) + "[" + std::to_string(id) + "]");
    return {};
}

Result<std::vector<rl_rule_meta>> Maps::readRuleMeta() const {
    std::vector<rl_rule_meta> out(RL_MAX_RULES);
    for (uint32_t id = 0; id < RL_MAX_RULES; ++id)
        if (bpf_map_lookup_elem(fds_.rulemeta, &id, &out[id]) != 0) return sysError("bpf_map_lookup_elem", RL_MAP_RULEMETA);
    return out;
}

Result<size_t> Maps::writeRuleMeta(const std::vector<rl_rule_meta>& meta) {
    size_t written = 0;
    for (uint32_t id = 0; id < meta.size() && id < RL_MAX_RULES; ++id) {
        rl_rule_meta cur{};
        if (bpf_map_lookup_elem(fds_.rulemeta, &id, &cur) == 0 && std::memcmp(&cur, &meta[id], sizeof(cur)) == 0)
            continue;
        if (bpf_map_update_elem(fds_.rulemeta, &id, &meta[id], BPF_ANY) != 0)
            return sysError("bpf_map_update_elem", RL_MAP_RULEMETA);
        ++written;
    }
    return written;
}

template <typename K>
Result<LpmDiffStats> Maps::applyLpm(int fd, const std::map<K, rl_match_set>& want,
                                    const std::function<K(const void*)>& fromKey,
                                    const std::function<void(const K&, void*)>& toKey, size_t key_size) {
    LpmDiffStats st;
    // Collect current keys first: deleting while walking get_next_key restarts the walk.
    std::vector<std::vector<uint8_t>> current;
    std::vector<uint8_t> key(key_size), next(key_size);
    void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
        current.push_back(next);
        key = next;
        prev = key.data();
    }
    for (auto& k : current) {
        if (want.count(fromKey(k.data()))) continue;
        if (bpf_map_delete_elem(fd, k.data()) != 0 && errno != ENOENT) return sysError("bpf_map_delete_elem LPM");
        ++st.removed;
    }
    std::vector<uint8_t> kbuf(key_size);
    for (auto& [k, v] : want) {
        std::memset(kbuf.data(), 0, key_size);
        toKey(k, kbuf.data());
        rl_match_set cur{};
        bool have = bpf_map_lookup_elem(fd, kbuf.data(), &cur) == 0;
        // LPM lookup returns the longest match, not necessarily this exact prefix:
        // compare only when the exact key was among the current ones.
        bool exact = false;
        if (have)
            for (auto& c : current)
                if (std::memcmp(c.data(), kbuf.data(), key_size) == 0) exact = true;
        if (exact && std::memcmp(&cur, &v, sizeof(cur)) == 0) {
            ++st.unchanged;
            continue;
        }
        if (bpf_map_update_elem(fd, kbuf.data(), &v, BPF_ANY) != 0) return sysError("bpf_map_update_elem LPM");
        exact ? ++st.updated : ++st.added;
    }
    return st;
}

Result<LpmDiffStats> Maps::applyLpm4(const Lpm4Image& want) {
    using K = Lpm4Image::key_type;
    return applyLpm<K>(
        fds_.lpm4, want,
        [](const void* p) {
            rl_lpm4_key k;
            std::memcpy(&k, p, sizeof(k));
            return K{k.prefixlen, k.addr};
        },
        [](const K& k, void* p) {
            rl_lpm4_key key{k.first, k.second};
            std::memcpy(p, &key, sizeof(key));
        },
        sizeof(rl_lpm4_key));
}

Result<LpmDiffStats> Maps::applyLpm6(const Lpm6Image& want) {
    using K = Lpm6Image::key_type;
    return applyLpm<K>(
        fds_.lpm6, want,
        [](const void* p) {
            rl_lpm6_key k;
            std::memcpy(&k, p, sizeof(k));
            K out;
            out.first = k.prefixlen;
            std::memcpy(out.second.data(), k.addr, 16);
            return out;
        },
        [](const K& k, void* p) {
            rl_lpm6_key key{};
            key.prefixlen = k.first;
            std::memcpy(key.addr, k.second.data(), 16);
            std::memcpy(p, &key, sizeof(key));
        },
        sizeof(rl_lpm6_key));
}

std::optional<rl_match_set> Maps::matchLpm4(__be32 addr) const {
    rl_lpm4_key k{32, addr};
    return lookup<rl_match_set>(fds_.lpm4, &k);
}

std::optional<rl_match_set> Maps::matchLpm6(const std::array<uint8_t, 16>& addr) const {
    rl_lpm6_key k{};
    k.prefixlen = 128;
    std::memcpy(k.addr, addr.data(), 16);
    return lookup<rl_match_set>(fds_.lpm6, &k);
}

std::optional<rl_state> Maps::lookupState4(const rl_key4& k) const { return lookup<rl_state>(fds_.state4, &k); }
std::optional<rl_state> Maps::lookupState6(const rl_key6& k) const { return lookup<rl_state>(fds_.state6, &k); }
std::optional<rl_block> Maps::lookupBlock4(const rl_key4& k) const { return lookup<rl_block>(fds_.block4, &k); }
std::optional<rl_block> Maps::lookupBlock6(const rl_key6& k) const { return lookup<rl_block>(fds_.block6, &k); }

Result<uint64_t> Maps::countKeys(int fd, size_t /*key_size*/) const {
    return countEntriesBatch(fd);  // batched: one syscall per 16384 entries
}

Result<uint64_t> Maps::countState4() const { return countKeys(fds_.state4, sizeof(rl_key4)); }
Result<uint64_t> Maps::countState6() const { return countKeys(fds_.state6, sizeof(rl_key6)); }
Result<uint64_t> Maps::countBlock4() const { return countKeys(fds_.block4, sizeof(rl_key4)); }
Result<uint64_t> Maps::countBlock6() const { return countKeys(fds_.block6, sizeof(rl_key6)); }

uint32_t Maps::capacity(int fd) const {
    bpf_map_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return 0;
    return info.max_entries;
}

Status Maps::setOverride4(__be32 addr, const rl_override& o) {
    if (bpf_map_update_elem(fds_.ovr4, &addr, &o, BPF_ANY) != 0) return sysError("bpf_map_update_elem", RL_MAP_OVR4);
    return {};
}
Status Maps::deleteOverride4(__be32 addr) {
    if (bpf_map_delete_elem(fds_.ovr4, &addr) != 0) return sysError("bpf_map_delete_elem", RL_MAP_OVR4);
    return {};
}
Status Maps::setOverride6(const std::array<uint8_t, 16>& addr, const rl_override& o) {
    if (bpf_map_update_elem(fds_.ovr6, addr.data(), &o, BPF_ANY) != 0) return sysError("bpf_map_update_elem", RL_MAP_OVR6);
    return {};
}
Status Maps::deleteOverride6(const std::array<uint8_t, 16>& addr) {
    if (bpf_map_delete_elem(fds_.ovr6, addr.data()) != 0) return sysError("bpf_map_delete_elem", RL_MAP_OVR6);
    return {};
}

Result<std::vector<rl_counter>> Maps::readStats() const {
    std::vector<rl_counter> out(RL_STATS_ENTRIES);
    for (uint32_t i = 0; i < RL_STATS_ENTRIES; ++i) {
        auto cells = readPerCpu<rl_counter>(fds_.stats, i, ncpus_);
        if (!cells) return cells.error();
        for (auto& c : *cells) {
            out[i].packets += c.packets;
            out[i].bytes += c.bytes;
        }
    }
    return out;
}

Result<std::vector<uint64_t>> Maps::readGlobalCounters() const {
    std::vector<uint64_t> out(RL_GC__MAX);
    for (uint32_t i = 0; i < RL_GC__MAX; ++i) {
        auto cells = readPerCpu<uint64_t>(fds_.gstats, i, ncpus_);
        if (!cells) return cells.error();
        for (auto v : *cells) out[i] += v;
    }
    return out;
}

Result<std::vector<TalkerSample>> Maps::readTalkers() const {
    // One BPF_MAP_LOOKUP_BATCH per 16384 entries, not two syscalls per entry.
    const size_t stride = (sizeof(rl_talker) + 7) & ~size_t{7};
    std::vector<TalkerSample> out;
    Status st = forEachEntry(fds_.talkers, stride * ncpus_, [&](const void* key, const void* value) {
        TalkerSample s;
        std::memcpy(&s.key, key, sizeof(s.key));
        for (unsigned c = 0; c < ncpus_; ++c) {
            rl_talker t;
            std::memcpy(&t, static_cast<const uint8_t*>(value) + c * stride, sizeof(t));
            s.packets += t.packets;
            s.bytes += t.bytes;
            s.dropped += t.dropped;
            if (t.packets) s.rule_id = t.rule_id;
        }
        out.push_back(s);
    });
    if (!st) return st.error();
    return out;
}

Status Maps::deleteTalker(const rl_talker_key& k) {
    if (bpf_map_delete_elem(fds_.talkers, &k) != 0 && errno != ENOENT) return sysError("bpf_map_delete_elem", RL_MAP_TALKERS);
    return {};
}

// ---- ring buffer -------------------------------------------------------------

int EventReader::onSample(void* ctx, void* data, size_t size) {
    auto* self = static_cast<EventReader*>(ctx);
    if (size < sizeof(rl_event)) return 0;
    rl_event ev;
    std::memcpy(&ev, data, sizeof(ev));
    self->handler_(ev);
    return 0;
}

Result<std::unique_ptr<EventReader>> EventReader::open(int map_fd, Handler h) {
    std::unique_ptr<EventReader> r(new EventReader());
    r->handler_ = std::move(h);
    r->rb_ = ring_buffer__new(map_fd, &EventReader::onSample, r.get(), nullptr);
    if (!r->rb_) return sysError("ring_buffer__new", RL_MAP_EVENTS);
    return r;
}

EventReader::~EventReader() { ring_buffer__free(rb_); }
int EventReader::epollFd() const { return ring_buffer__epoll_fd(rb_); }
int EventReader::consume() { return ring_buffer__consume(rb_); }

}  // namespace ratelimit
