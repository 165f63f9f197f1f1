/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Token bucket policer (packets/s and/or bytes/s, each with a burst), pure.
 *
 * A bucket of depth b refilled at r tokens/s is kept in virtual-time form:
 * tokens(now) = b - max(0, TAT - now) / T with T = 1/r, so the bucket is one
 * word per dimension and can be updated with compare-and-swap. A packet must
 * conform in every configured dimension; a non-conforming packet takes nothing.
 * A new key starts with a full bucket (TAT = 0) unless RL_CFG_F_NEW_EMPTY.
 */
#ifndef RL_LIB_TOKEN_BUCKET_H
#define RL_LIB_TOKEN_BUCKET_H

#include "vtime.h"

#define RL_TB_DIM_PKTS 0
#define RL_TB_DIM_BYTES 1
#define RL_TB_DIMS 2

RL_INLINE int rl_tb_dim_on(const struct rl_meter *m, int dim)
{
	return m->flags & (dim == RL_TB_DIM_PKTS ? RL_METER_F_PKTS : RL_METER_F_BYTES);
}

RL_INLINE __u64 rl_tb_cost_q(const struct rl_meter *m, int dim, __u64 bytes)
{
	return rl_cost_q(dim == RL_TB_DIM_PKTS ? 1 : bytes, m->t_q16[dim]);
}

/*
 * Single-threaded reference step over the whole state (host tests, and the
 * model the BPF compare-and-swap path follows one word at a time).
 */
RL_INLINE int rl_tb_conform(const struct rl_meter *m, __u64 tat[RL_TB_DIMS], __u64 now_q,
			    __u64 bytes)
{
	__u64 next[RL_TB_DIMS] = { tat[0], tat[1] };
	int dim;

	for (dim = 0; dim < RL_TB_DIMS; dim++) {
		if (!rl_tb_dim_on(m, dim))
			continue;
		if (!rl_vt_conform(tat[dim], now_q, rl_tb_cost_q(m, dim, bytes), m->limit_q[dim],
				   &next[dim]))
			return 0;
	}
	tat[0] = next[0];
	tat[1] = next[1];
	return 1;
}

#endif
