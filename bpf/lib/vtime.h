/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Virtual-time conformance: the arithmetic core of the token bucket and GCRA.
 * Pure: no helpers, no maps; `now_q` is passed in. Compiles for BPF and host.
 *
 * A meter dimension keeps TAT, the theoretical arrival time, in q units
 * (2^-RL_TIME_SHIFT ns). A packet of cost c (q units) conforms iff
 *     max(TAT, now) + c <= now + limit
 * and, if it conforms, TAT becomes max(TAT, now) + c. A TAT in the past means a
 * full bucket, so a long idle period cannot overflow anything.
 * No last-update time is kept (one word per dimension, for compare-and-swap),
 * so a timestamp older than one already metered (CPUs racing) is judged at its
 * own time: the step back never refills the bucket, it can only find it
 * emptier than at the newest time (stricter than "zero elapsed"), and the
 * I.371 bound holds whatever the order: over any interval [a, b] of arrival
 * times, admitted * c <= (b - a) + limit. Huge steps back are refused
 * without wrapping (the base - now_q > limit_q test).
 */
#ifndef RL_LIB_VTIME_H
#define RL_LIB_VTIME_H

#include "compat.h"
#include "ratelimit/abi.h"

#define RL_Q16_SHIFT 16
/* Largest per-packet byte count charged; no packet comes near it. */
#define RL_MAX_COST_UNITS 0xffffffffull
/* Largest t_q16 accepted for the byte dimension: keeps rl_cost_q's partial
 * products (< 2^16 * t_q16) within 64 bits. */
#define RL_MAX_T_Q16_BYTES (1ull << 47)
/* Largest limit (burst window) in q units; keeps now_q + limit below 2^64. */
#define RL_MAX_LIMIT_Q (1ull << 60)

RL_INLINE __u64 rl_now_q(__u64 now_ns)
{
	return now_ns << RL_TIME_SHIFT;
}

/*
 * Cost in q units of `units` packets or bytes: floor(units * t_q16 / 2^16),
 * exact (rounds down, < 1 q per packet). units = hi * 2^16 + lo is split so
 * that no product exceeds 64 bits for t_q16 < RL_MAX_T_Q16_BYTES (units == 1,
 * the packet dimension, takes any t_q16). Exact for every size, so cost grows
 * with size and a packet larger than the burst never fits in it.
 */
RL_INLINE __u64 rl_cost_q(__u64 units, __u64 t_q16)
{
	__u64 hi, lo;

	if (units > RL_MAX_COST_UNITS)
		units = RL_MAX_COST_UNITS;
	hi = units >> RL_Q16_SHIFT;
	lo = units & ((1ull << RL_Q16_SHIFT) - 1);
	return hi * t_q16 + ((lo * t_q16) >> RL_Q16_SHIFT);
}

/* Returns 1 and sets *new_tat if the packet conforms; 0 otherwise (state unchanged). */
RL_INLINE int rl_vt_conform(__u64 tat, __u64 now_q, __u64 cost_q, __u64 limit_q,
			    __u64 *new_tat)
{
	__u64 base = tat > now_q ? tat : now_q;

	/* base - now_q <= limit_q holds for every TAT this function produced */
	if (base - now_q > limit_q || cost_q > limit_q - (base - now_q))
		return 0;
	*new_tat = base + cost_q;
	return 1;
}

/*
 * Earliest time (q units) at which a packet of cost cost_q conforms, TAT
 * unchanged: rl_vt_conform accepts it iff now_q >= TAT - (limit_q - cost_q).
 * 0: conforms now whatever now is; ~0: never (cost above the limit).
 */
RL_INLINE __u64 rl_vt_ready_q(__u64 tat, __u64 cost_q, __u64 limit_q)
{
	if (cost_q > limit_q)
		return ~0ull;
	if (tat <= limit_q - cost_q)
		return 0;
	return tat - (limit_q - cost_q);
}

/* TAT for a key seen for the first time: full bucket, or empty if asked. */
RL_INLINE __u64 rl_vt_initial(__u64 now_q, __u64 limit_q, int start_empty)
{
	return start_empty ? now_q + limit_q : 0;
}

/*
 * Pressure: less than half of the burst window is left, i.e. the backlog
 * TAT - now exceeds limit/2 (a TAT in the past is a full bucket).
 */
RL_INLINE int rl_vt_pressure(__u64 tat, __u64 now_q, __u64 limit_q)
{
	return tat > now_q && tat - now_q > limit_q / 2;
}

#endif
