/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The pure meters (token_bucket.h, gcra.h, window.h) applied to shared map
 * values. Concurrency decision: every meter word is updated with
 * compare-and-swap (BPF_CMPXCHG), never under a lock, so two CPUs metering the
 * same key never admit more than the meter allows:
 *   - GCRA and each token-bucket dimension: one word, CAS; exact.
 *   - token bucket with packets AND bytes: packets word first, then bytes; if
 *     bytes does not conform the packet charge is refunded (atomic add). While
 *     a refund is pending another CPU may see the bucket one packet emptier:
 *     under-admission only, never over-admission.
 *   - windows: counts word by CAS; exact within a window. At a window boundary
 *     the CPU that wins the CAS on `start` resets the counts; increments made by
 *     other CPUs between the roll and the reset are lost, so at most
 *     (nr_cpus - 1) extra packets per boundary can be admitted. With several
 *     tiers, a refund (rl_window_refund) that races a roll is given back to
 *     the new window: up to (nr_cpus - 1) more per boundary in that case.
 *     (Single-tier bound tested in tests/bpf/test_concurrency.cpp.)
 * After RL_CAS_RETRIES failed attempts a packet counts as non-conforming
 * (RL_GC_CAS_EXHAUSTED): contention never over-admits.
 */
#ifndef RL_METER_BPF_H
#define RL_METER_BPF_H

#include "gcra.h"
#include "token_bucket.h"
#include "window.h"
#include "stats.bpf.h"

#define RL_METER_CONFORM 1
#define RL_METER_EXCEED 0

/*
 * One virtual-time word: take `cost_q` if it conforms. On refusal, *ready_q
 * is when a packet of cost ready_cost_q could conform (rl_vt_ready_q), from
 * the TAT that refused; 0 if unknown (CAS retries exhausted).
 */
static __always_inline int rl_vt_take(__u64 *word, __u64 now_q, __u64 cost_q, __u64 limit_q,
				      __u64 ready_cost_q, __u64 *ready_q)
{
	int i;

	for (i = 0; i < RL_CAS_RETRIES; i++) {
		__u64 old = *(volatile __u64 *)word, next;

		if (!rl_vt_conform(old, now_q, cost_q, limit_q, &next)) {
			*ready_q = rl_vt_ready_q(old, ready_cost_q, limit_q);
			return RL_METER_EXCEED;
		}
		if (__sync_val_compare_and_swap(word, old, next) == old)
			return RL_METER_CONFORM;
	}
	rl_gcount(RL_GC_CAS_EXHAUSTED);
	*ready_q = 0;
	return RL_METER_EXCEED;
}

static __always_inline void rl_vt_refund(__u64 *word, __u64 cost_q)
{
	__sync_fetch_and_add(word, -cost_q);
}

static __always_inline int rl_window_take(const struct rl_meter *m, struct rl_state *st,
					  __u64 now_ns, __u64 *ready_ns)
{
	__u64 start = *(volatile __u64 *)&st->w[0], new_start;
	__u64 counts = *(volatile __u64 *)&st->w[1];
	__u64 rolled = rl_window_roll(start, counts, now_ns, m->window_ns, &new_start);
	int i;

	if (new_start != start) {
		if (__sync_val_compare_and_swap(&st->w[0], start, new_start) == start)
			__sync_lock_test_and_set(&st->w[1], rolled);
		/* loser: the winner resets the counts; re-read below */
	}
	for (i = 0; i < RL_CAS_RETRIES; i++) {
		__u64 old = *(volatile __u64 *)&st->w[1];
		__u64 s = *(volatile __u64 *)&st->w[0];

		if (!rl_window_admits(m, s, old, now_ns)) {
			*ready_ns = rl_window_ready_ns(m, s, old);
			return RL_METER_EXCEED;
		}
		if (__sync_val_compare_and_swap(&st->w[1], old, old + 1) == old)
			return RL_METER_CONFORM;
	}
	rl_gcount(RL_GC_CAS_EXHAUSTED);
	*ready_ns = 0;
	return RL_METER_EXCEED;
}

static __always_inline void rl_window_refund(struct rl_state *st)
{
	int i;

	for (i = 0; i < RL_CAS_RETRIES; i++) {
		__u64 old = *(volatile __u64 *)&st->w[1];

		if (RL_WIN_CUR(old) == 0)
			return; /* window rolled meanwhile: nothing to give back */
		if (__sync_val_compare_and_swap(&st->w[1], old, old - 1) == old)
			return;
	}
}

/* q units -> ns, rounded up; 0 stays "unknown", never stays never (0). */
static __always_inline __u64 rl_ready_ns(__u64 ready_q)
{
	if (ready_q == ~0ull)
		return 0;
	return (ready_q >> RL_TIME_SHIFT) + !!(ready_q & ((1ull << RL_TIME_SHIFT) - 1));
}

/*
 * Charge one packet of `bytes` to a meter. On refusal, if ready_ns is given: a
 * time before which no packet of this key (of any size) conforms, for the
 * refusal cache; 0 = unknown. Inlined where it runs once per packet (a BPF
 * function call costs a mispredicted return under the SRSO "safe RET"
 * mitigation); rl_meter_take is the global-function copy for the other
 * meters, which the verifier checks once.
 */
static __always_inline int __rl_meter_take(const struct rl_meter *m, struct rl_state *st, __u64 now_ns,
					   __u64 bytes, __u64 *ready_ns)
{
	__u64 now_q = rl_now_q(now_ns), ready_q = 0, ready = 0;
	int ok = RL_METER_CONFORM;

	if (!m || !st)
		return RL_METER_EXCEED;

	switch (m->algo) {
	case RL_ALGO_GCRA:
		ok = rl_vt_take(&st->w[0], now_q, rl_gcra_t_q(m), m->limit_q[0], rl_gcra_t_q(m),
				&ready_q);
		ready = rl_ready_ns(ready_q);
		break;
	case RL_ALGO_TOKEN_BUCKET:
		/* the byte dimension's ready time is for the smallest packet (1 byte) */
		if (rl_tb_dim_on(m, RL_TB_DIM_PKTS) &&
		    !rl_vt_take(&st->w[0], now_q, rl_tb_cost_q(m, RL_TB_DIM_PKTS, bytes),
				m->limit_q[0], rl_tb_cost_q(m, RL_TB_DIM_PKTS, 1), &ready_q)) {
			ok = RL_METER_EXCEED;
		} else if (rl_tb_dim_on(m, RL_TB_DIM_BYTES) &&
			   !rl_vt_take(&st->w[1], now_q, rl_tb_cost_q(m, RL_TB_DIM_BYTES, bytes),
				       m->limit_q[1], rl_tb_cost_q(m, RL_TB_DIM_BYTES, 1), &ready_q)) {
			if (rl_tb_dim_on(m, RL_TB_DIM_PKTS))
				rl_vt_refund(&st->w[0], rl_tb_cost_q(m, RL_TB_DIM_PKTS, bytes));
			ok = RL_METER_EXCEED;
		}
		ready = rl_ready_ns(ready_q);
		break;
	case RL_ALGO_SLIDING_WINDOW:
	case RL_ALGO_FIXED_WINDOW:
		ok = rl_window_take(m, st, now_ns, &ready);
		break;
	default:
		break; /* RL_ALGO_NONE meters nothing */
	}
	if (!ok && ready_ns)
		*ready_ns = ready;
	return ok;
}

__noinline int rl_meter_take(const struct rl_meter *m, struct rl_state *st, __u64 now_ns,
			     __u64 bytes, __u64 *ready_ns)
{
	return __rl_meter_take(m, st, now_ns, bytes, ready_ns);
}

/* Undo a conforming rl_meter_take (a later tier or the ceiling said no). */
__noinline int rl_meter_refund(const struct rl_meter *m, struct rl_state *st, __u64 bytes)
{
	if (!m || !st)
		return 0;
	switch (m->algo) {
	case RL_ALGO_GCRA:
		rl_vt_refund(&st->w[0], rl_gcra_t_q(m));
		break;
	case RL_ALGO_TOKEN_BUCKET:
		if (rl_tb_dim_on(m, RL_TB_DIM_PKTS))
			rl_vt_refund(&st->w[0], rl_tb_cost_q(m, RL_TB_DIM_PKTS, bytes));
		if (rl_tb_dim_on(m, RL_TB_DIM_BYTES))
			rl_vt_refund(&st->w[1], rl_tb_cost_q(m, RL_TB_DIM_BYTES, bytes));
		break;
	case RL_ALGO_SLIDING_WINDOW:
	case RL_ALGO_FIXED_WINDOW:
		rl_window_refund(st);
		break;
	}
	return 0;
}

/*
 * 1 if less than half of the meter's burst is left (packet dimension; windows:
 * more than half the window's limit used). Read without atomics: a hint.
 */
static __always_inline int rl_meter_pressure(const struct rl_meter *m, const struct rl_state *st,
					     __u64 now_ns)
{
	__u64 counts;

	switch (m->algo) {
	case RL_ALGO_GCRA:
	case RL_ALGO_TOKEN_BUCKET:
		return rl_vt_pressure(*(volatile __u64 *)&st->w[0], rl_now_q(now_ns),
				      m->limit_q[0]);
	case RL_ALGO_SLIDING_WINDOW:
	case RL_ALGO_FIXED_WINDOW:
		counts = *(volatile __u64 *)&st->w[1];
		return 2ull * RL_WIN_CUR(counts) > m->window_limit;
	default:
		return 0;
	}
}

/* Fresh state for a key (or after its rule changed incompatibly). */
static __always_inline void rl_state_init(struct rl_state *st, const struct rl_meter *m,
					  __u16 generation, __u64 now_ns, int start_empty)
{
	__u64 now_q = rl_now_q(now_ns);

	st->seen = 0;
	st->meta = RL_ST_META(m->algo, generation);
	switch (m->algo) {
	case RL_ALGO_GCRA:
	case RL_ALGO_TOKEN_BUCKET:
		st->w[0] = rl_vt_initial(now_q, m->limit_q[0], start_empty);
		st->w[1] = rl_vt_initial(now_q, m->limit_q[1], start_empty);
		break;
	case RL_ALGO_SLIDING_WINDOW:
	case RL_ALGO_FIXED_WINDOW:
		st->w[0] = now_ns;
		st->w[1] = start_empty ? RL_WIN_PACK(m->window_limit, 0) : 0;
		break;
	}
}

#endif
