// Reference models of the meters, written from the standards' definitions and
// kept deliberately naive: exact integer arithmetic (__int128), no virtual
// time, no fixed point, nothing shared with bpf/lib/ or controller/rules/.
// The tests feed the same arrivals to these and to the fast path's pure
// meters and compare the decisions.
//
// Time is in ns on a simulated clock (uint64_t). A rate is `count` events per
// `period_ns` ns.
#pragma once

#include <algorithm>
#include <cstdint>

namespace ratelimit::ref {

using i128 = __int128;

// One dimension of a single-rate token bucket (RFC 2697/2698 committed bucket,
// token form). The bucket holds `tokens` in units of (token * period_ns), so a
// refill over e ns adds exactly count * e and nothing is ever rounded.
// Depth `burst` tokens. A clock that goes backwards counts as zero elapsed:
// the bucket is not refilled and the last-update time stays where it was.
class TokenBucketDim {
public:
    TokenBucketDim(uint64_t count, uint64_t period_ns, uint64_t burst, bool start_empty)
        : count_(count), period_ns_(period_ns), burst_(burst), start_empty_(start_empty) {}

    // Bring the bucket to time t (first call: a new key, full or empty).
    void advance(uint64_t t_ns) {
        const i128 depth = (i128)burst_ * period_ns_;
        if (!seen_) {
            seen_ = true;
            last_ns_ = t_ns;
            tokens_ = start_empty_ ? 0 : depth;
            return;
        }
        if (t_ns <= last_ns_) return;  // zero (or negative) elapsed: no refill
        tokens_ = std::min(depth, tokens_ + (i128)count_ * (t_ns - last_ns_));
        last_ns_ = t_ns;
    }
    bool hasTokens(uint64_t cost) const { return tokens_ >= (i128)cost * period_ns_; }
    void take(uint64_t cost) { tokens_ -= (i128)cost * period_ns_; }

    // Missing tokens, in (token * period_ns): depth - tokens.
    i128 deficit() const { return (i128)burst_ * period_ns_ - tokens_; }
    uint64_t lastNs() const { return last_ns_; }
    bool seen() const { return seen_; }

private:
    uint64_t count_, period_ns_, burst_;
    bool start_empty_;
    bool seen_ = false;
    uint64_t last_ns_ = 0;
    i128 tokens_ = 0;  // token * period_ns
};

// Token bucket policer over packets and/or bytes: a packet conforms iff it
// conforms in every configured dimension (1 token per packet, 1 per byte);
// a non-conforming packet takes nothing from any dimension.
class TokenBucket {
public:
    struct Dim {
        uint64_t count = 0, period_ns = 0, burst = 0;  // count == 0: dimension off
    };
    TokenBucket(Dim packets, Dim bytes, bool start_empty = false)
        : pkts_on_(packets.count != 0),
          bytes_on_(bytes.count != 0),
          pkts_(packets.count, packets.period_ns, packets.burst, start_empty),
          bytes_(bytes.count, bytes.period_ns, bytes.burst, start_empty) {}

    bool offer(uint64_t t_ns, uint64_t size_bytes) {
        if (pkts_on_) pkts_.advance(t_ns);
        if (bytes_on_) bytes_.advance(t_ns);
        if (pkts_on_ && !pkts_.hasTokens(1)) return false;
        if (bytes_on_ && !bytes_.hasTokens(size_bytes)) return false;
        if (pkts_on_) pkts_.take(1);
        if (bytes_on_) bytes_.take(size_bytes);
        return true;
    }
    const TokenBucketDim& packets() const { return pkts_; }
    const TokenBucketDim& bytes() const { return bytes_; }

private:
    bool pkts_on_, bytes_on_;
    TokenBucketDim pkts_, bytes_;
};

// GCRA, ITU-T I.371 virtual scheduling algorithm, with increment T and limit
// tau given as rationals over a common denominator: T = t_num / den ns,
// tau = tau_num / den ns. Time is kept as t_ns * den so everything is exact.
//   first cell:   TAT = t_a(1)
//   cell at t:    if TAT > t + tau: non-conforming (TAT unchanged)
//                 else TAT = max(TAT, t) + T, conforming.
// start_empty: the first cell finds TAT = t + tau + T (no credit at all).
class Gcra {
public:
    Gcra(uint64_t t_num, uint64_t tau_num, uint64_t den, bool start_empty = false)
        : t_(t_num), tau_(tau_num), den_(den), start_empty_(start_empty) {}

    // A rate of `count` per `period_ns` and a burst of `burst` back-to-back
    // cells: T = period_ns / count, tau = (burst - 1) * T.
    static Gcra fromRate(uint64_t count, uint64_t period_ns, uint64_t burst, bool start_empty = false) {
        return Gcra(period_ns, (burst - 1) * period_ns, count, start_empty);
    }

    bool offer(uint64_t t_ns) {
        const i128 t = (i128)t_ns * den_;
        if (!seen_) {
            seen_ = true;
            tat_ = start_empty_ ? t + tau_ + t_ : t;
        }
        if (tat_ > t + tau_) return false;
        tat_ = std::max(tat_, t) + t_;
        return true;
    }

private:
    i128 t_, tau_, den_;
    bool start_empty_;
    bool seen_ = false;
    i128 tat_ = 0;  // ns * den
};

// Window counters with the semantics documented in bpf/lib/window.h:
// the first packet of a key opens a window at its arrival; a packet at
// t >= start + W opens the next window at start + W if t < start + 2W (the
// finished window's count becomes `prev`), else a fresh window at t (prev = 0).
// A clock that goes backwards counts as zero elapsed.
//   fixed:   conforms iff cur + 1 <= limit
//   sliding: conforms iff prev * (W - e) / W + cur + 1 <= limit, e = t - start,
//            compared as exact rationals.
class Window {
public:
    Window(bool sliding, uint64_t limit, uint64_t window_ns, bool start_empty = false)
        : sliding_(sliding), limit_(limit), w_(window_ns), start_empty_(start_empty) {}

    bool offer(uint64_t t_ns) {
        if (!seen_) {
            seen_ = true;
            start_ = t_ns;
            cur_ = start_empty_ ? limit_ : 0;
            prev_ = 0;
        }
        const uint64_t e0 = t_ns > start_ ? t_ns - start_ : 0;
        if (e0 >= w_) {
            if (e0 < 2 * w_) {
                start_ += w_;
                prev_ = cur_;
            } else {
                start_ = t_ns;
                prev_ = 0;
            }
            cur_ = 0;
        }
        bool ok;
        if (!sliding_) {
            ok = cur_ + 1 <= limit_;
        } else {
            const uint64_t e = t_ns > start_ ? t_ns - start_ : 0;
            // estimate = prev * (W - e) / W + (cur + 1) = num / W
            Rational estimate{(i128)prev_ * (w_ - e) + (i128)(cur_ + 1) * w_, (i128)w_};
            ok = estimate <= Rational{(i128)limit_, 1};
        }
        if (ok) ++cur_;
        return ok;
    }
    uint64_t cur() const { return cur_; }
    uint64_t prev() const { return prev_; }
    uint64_t start() const { return start_; }

private:
    struct Rational {
        i128 num, den;  // den > 0
        bool operator<=(const Rational& o) const { return num * o.den <= o.num * den; }
    };
    bool sliding_;
    uint64_t limit_, w_;
    bool start_empty_;
    bool seen_ = false;
    uint64_t start_ = 0, cur_ = 0, prev_ = 0;
};

}  // namespace ratelimit::ref
