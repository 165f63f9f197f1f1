#include "maps/known_filter.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <bit>
#include <vector>

#include "bpf/lib/known.h"
#include "maps/map_scan.hpp"

namespace ratelimit {
namespace {

uint64_t load(const __u64* p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

double fillOf(const __u64* words) {
    uint64_t set = 0;
    for (uint32_t i = 0; i < RL_KNOWN_WORDS; i++) set += static_cast<uint64_t>(std::popcount(load(&words[i])));
    return static_cast<double>(set) / (64.0 * RL_KNOWN_WORDS);
}

}  // namespace

Result<std::unique_ptr<KnownFilter>> KnownFilter::open(const MapFds& fds) {
    std::unique_ptr<KnownFilter> f(new KnownFilter());
    long page = sysconf(_SC_PAGESIZE);
    f->len_ = (sizeof(rl_known) + static_cast<size_t>(page) - 1) / static_cast<size_t>(page) * static_cast<size_t>(page);
    void* p = mmap(nullptr, f->len_, PROT_READ | PROT_WRITE, MAP_SHARED, fds.known, 0);
    if (p == MAP_FAILED) return sysError("mmap", RL_MAP_KNOWN);
    f->k_ = static_cast<rl_known*>(p);
    f->state4_ = fds.state4;
    f->state6_ = fds.state6;
    return f;
}

KnownFilter::~KnownFilter() {
    if (k_) munmap(k_, len_);
}

bool KnownFilter::built() const { return load(&k_->active) != 0; }

double KnownFilter::fill() const {
    uint64_t active = load(&k_->active);
    return active ? fillOf(k_->words[(active - 1) & 1]) : 0.0;
}

Result<KnownFilter::BuildStats> KnownFilter::rebuild() {
    uint64_t active = load(&k_->active);
    // the inactive half: active is 0 (none built), 1 (half 0) or 2 (half 1)
    uint32_t half = static_cast<uint32_t>(active & 1);
    __u64* words = k_->words[half];
    // 1. zero the half: bits the fast path sets meanwhile may be lost, but
    //    their keys exist when the walk starts
    for (uint32_t i = 0; i < RL_KNOWN_WORDS; i++) __atomic_store_n(&words[i], 0, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    // 2. every key the walk finds; a batch walk goes bucket by bucket, so it
    //    never skips a key present from its start to its end
    std::vector<uint64_t> bits(RL_KNOWN_WORDS, 0);
    BuildStats out;
    auto walk = [&](int fd, auto bitOf) -> Status {
        return forEachEntry(fd, sizeof(rl_state), [&](const void* key, const void*) {
            uint32_t b = bitOf(key);
            bits[rl_known_word(b)] |= rl_known_mask(b);
            out.keys++;
        });
    };
    if (auto s = walk(state4_, [](const void* k) { return rl_known_bit4(static_cast<const rl_key4*>(k)); }); !s)
        return s.error();
    if (auto s = walk(state6_, [](const void* k) { return rl_known_bit6(static_cast<const rl_key6*>(k)); }); !s)
        return s.error();
    for (uint32_t i = 0; i < RL_KNOWN_WORDS; i++)
        if (bits[i]) __atomic_fetch_or(&words[i], bits[i], __ATOMIC_RELAXED);
    // 3. the fast path reads this half from now on
    __atomic_store_n(&k_->active, uint64_t{half} + 1, __ATOMIC_RELEASE);
    out.half = half;
    out.fill = fillOf(words);
    last_ = out;
    return out;
}

Result<bool> KnownFilter::maintain(Clock::time_point now) {
    if (built()) {
        if (now - built_at_ < kRebuildEvery) return false;
        double f = fill();
        if (f < kRebuildFill || f - last_.fill < kRebuildGrowth) return false;
    }
    auto r = rebuild();
    if (!r) return r.error();
    built_at_ = now;
    return true;
}

}  // namespace ratelimit
