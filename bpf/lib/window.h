/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Fixed-window and sliding-window counters ("6000 per minute"), pure.
 *
 * State: start (ns) of the current window, cur = packets admitted in it,
 * prev = packets admitted in the previous one (sliding only). The first packet
 * of a key opens a window at its arrival. A packet at t >= start + W opens the
 * next window at start + W if t < start + 2W (prev = cur), else a fresh window
 * at t (prev = 0). A clock that goes backwards counts as no time elapsed.
 *
 * Fixed:   conforms iff cur + 1 <= limit.
 * Sliding: conforms iff prev * (W - e) / W + cur + 1 <= limit, e = t - start,
 *          evaluated without division as prev*(W-e) + (cur+1)*W <= limit*W.
 * User space guarantees limit * W < 2^63.
 */
#ifndef RL_LIB_WINDOW_H
#define RL_LIB_WINDOW_H

#include "compat.h"
#include "ratelimit/abi.h"

#define RL_WIN_CUR(w) ((__u32)(w))
#define RL_WIN_PREV(w) ((__u32)((w) >> 32))
#define RL_WIN_PACK(cur, prev) ((__u64)(cur) | ((__u64)(prev) << 32))

/* Where the window stands at now_ns; returns the counts word to use with it. */
RL_INLINE __u64 rl_window_roll(__u64 start, __u64 counts, __u64 now_ns, __u64 window_ns,
			       __u64 *new_start)
{
	__u64 elapsed = now_ns > start ? now_ns - start : 0;

	if (elapsed < window_ns) {
		*new_start = start;
		return counts;
	}
	if (elapsed < 2 * window_ns) {
		*new_start = start + window_ns;
		return RL_WIN_PACK(0, RL_WIN_CUR(counts));
	}
	*new_start = now_ns;
	return 0;
}

/* Given a rolled state, does one more packet conform? */
RL_INLINE int rl_window_admits(const struct rl_meter *m, __u64 start, __u64 counts,
			       __u64 now_ns)
{
	__u64 cur = RL_WIN_CUR(counts), prev = RL_WIN_PREV(counts);
	__u64 elapsed, W = m->window_ns;

	if (m->algo == RL_ALGO_FIXED_WINDOW)
		return cur + 1 <= m->window_limit;
	elapsed = now_ns > start ? now_ns - start : 0;
	if (elapsed > W)
		elapsed = W;
	if (cur + 1 > m->window_limit)
		return 0;
	return prev * (W - elapsed) + (cur + 1) * W <= m->window_limit * W;
}

/*
 * For a rolled state that refuses one more packet: a time (ns) before which
 * no packet conforms (exact for the sliding window's weighted refusal; for a
 * full window, its end, when the state must be looked at again).
 */
RL_INLINE __u64 rl_window_ready_ns(const struct rl_meter *m, __u64 start, __u64 counts)
{
	__u64 cur = RL_WIN_CUR(counts), prev = RL_WIN_PREV(counts);
	__u64 W = m->window_ns, room;

	if (m->algo == RL_ALGO_FIXED_WINDOW || cur + 1 > m->window_limit || !prev)
		return start + W;
	/* conforms iff prev * (W - e) <= (limit - cur - 1) * W = room */
	room = (m->window_limit - cur - 1) * W;
	if (room / prev >= W)
		return start;
	return start + W - room / prev;
}

/* Single-threaded step (host tests; the BPF path does the same with CAS). */
RL_INLINE int rl_window_conform(const struct rl_meter *m, __u64 *start, __u64 *counts,
				__u64 now_ns)
{
	__u64 s, c = rl_window_roll(*start, *counts, now_ns, m->window_ns, &s);

	*start = s;
	*counts = c;
	if (!rl_window_admits(m, s, c, now_ns))
		return 0;
	*counts = c + 1;
	return 1;
}

#endif
