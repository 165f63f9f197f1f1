// Two threads pinned to different CPUs drive the same key through
// BPF_PROG_TEST_RUN (which runs the program on the calling CPU). Whatever the
// interleaving, the meters must not admit more than they allow:
//
//   GCRA, token bucket (one CAS word each): from a fresh key, n admitted packets
//   leave TAT >= t_first + n*T, and each needed TAT - T <= now - T + limit, so
//       n <= (elapsed_q + limit_q) / T_q              (exact, no slack)
//   with elapsed measured around the whole run (wall clock, CLOCK_MONOTONIC =
//   bpf_ktime_get_ns) and T_q, limit_q taken from the rl_meter itself.
//
//   fixed/sliding window: at most `limit` per window, plus the bound documented
//   in bpf/lib/meter.bpf.h: (nr_cpus - 1) extra packets per window boundary.
//   Windows overlapping the run <= floor(elapsed/W) + 1, boundaries <= floor(elapsed/W):
//       n <= limit * (floor(elapsed/W) + 1) + (nr_cpus - 1) * floor(elapsed/W)
//
// Failed compare-and-swaps beyond RL_CAS_RETRIES count as non-conforming, so they
// can only lower n; they are reported (RL_GC_CAS_EXHAUSTED), not asserted.
#include <linux/bpf.h>

#include <atomic>
#include <thread>

#include "bpf/support/xdp_fixture.hpp"

namespace ratelimit::test {
namespace {

constexpr uint64_t kRunNs = 300 * kMsNs;  // each thread keeps sending this long
constexpr uint32_t kRepeat = 256;         // packets per BPF_PROG_TEST_RUN call

struct Outcome {
    uint64_t admitted = 0, dropped = 0, elapsed_ns = 0, cas_exhausted = 0;
};

class Concurrency : public XdpFixture {
protected:
    Outcome drive(const rl_meter& m) {
        setRule(1, limitRule({tier(m, 32, 128)}));
        setLpm4("198.18.0.0/16", matchSet({match(1)}));
        Frame f = PacketBuilder().ipv4("198.18.0.77", "198.19.0.1").udp(1, 2).build();
        std::atomic<int> errors{0};
        auto before = counters();
        uint64_t t0 = nowNs();
        auto worker = [&](int cpu) {
            PinToCpu pin(cpu);
            while (nowNs() - t0 < kRunNs)
                if (tryRun(f, kRepeat) < 0) errors++;
        };
        std::thread a(worker, 0), b(worker, 1);
        a.join();
        b.join();
        uint64_t t1 = nowNs();
        auto d = counters() - before;
        EXPECT_EQ(errors.load(), 0);
        Outcome o{d.packets(1, RL_REASON_PASS), d.packets(1, RL_REASON_DROP_RATE), t1 - t0,
                  d.g(RL_GC_CAS_EXHAUSTED)};
        RecordProperty("admitted", std::to_string(o.admitted));
        RecordProperty("dropped", std::to_string(o.dropped));
        RecordProperty("cas_exhausted", std::to_string(o.cas_exhausted));
        printf("admitted %lu dropped %lu in %.1f ms, cas_exhausted %lu\n", (unsigned long)o.admitted,
               (unsigned long)o.dropped, o.elapsed_ns / 1e6, (unsigned long)o.cas_exhausted);
        return o;
    }

    static uint64_t virtualTimeBound(const rl_meter& m, uint64_t elapsed_ns) {
        uint64_t t_q = m.t_q16[0] >> 16;
        return ((elapsed_ns << RL_TIME_SHIFT) + m.limit_q[0]) / t_q;
    }

    static uint64_t windowBound(const rl_meter& m, uint64_t elapsed_ns) {
        uint64_t boundaries = elapsed_ns / m.window_ns;
        return m.window_limit * (boundaries + 1) + uint64_t(nCpus() - 1) * boundaries;
    }

    void SetUp() override {
        XdpFixture::SetUp();
        if (nCpus() < 2) GTEST_SKIP() << "needs two CPUs";
    }
};

TEST_F(Concurrency, GcraNeverOverAdmits) {
    rl_meter m = gcra(1000, 50);
    Outcome o = drive(m);
    EXPECT_GT(o.dropped, 0u) << "the run must actually exceed the rate";
    EXPECT_GE(o.admitted, 50u);
    EXPECT_LE(o.admitted, virtualTimeBound(m, o.elapsed_ns));
}

TEST_F(Concurrency, TokenBucketNeverOverAdmits) {
    rl_meter m = tbPackets(2000, 100);
    Outcome o = drive(m);
    EXPECT_GT(o.dropped, 0u);
    EXPECT_GE(o.admitted, 100u);
    EXPECT_LE(o.admitted, virtualTimeBound(m, o.elapsed_ns));
}

TEST_F(Concurrency, FixedWindowBound) {
    rl_meter m = window(false, 40, 20 * kMsNs);
    Outcome o = drive(m);
    EXPECT_GT(o.dropped, 0u);
    EXPECT_LE(o.admitted, windowBound(m, o.elapsed_ns));
}

TEST_F(Concurrency, SlidingWindowBound) {
    rl_meter m = window(true, 40, 20 * kMsNs);
    Outcome o = drive(m);
    EXPECT_GT(o.dropped, 0u);
    EXPECT_LE(o.admitted, windowBound(m, o.elapsed_ns));
}

}  // namespace
}  // namespace ratelimit::test
