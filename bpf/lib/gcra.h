/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * GCRA, the leaky bucket as a meter (ITU-T I.371 virtual scheduling), pure.
 *
 * Parameters: emission interval T and tolerance tau. A cell arriving at t
 * conforms iff TAT <= t + tau, and then TAT = max(TAT, t) + T. Equivalently
 * max(TAT, t) + T <= t + (tau + T), which is what rl_vt_conform checks with
 * limit = tau + T (rl_meter.limit_q[0]) and cost = T (rl_meter.t_q16[0] >> 16).
 * floor(tau/T) + 1 back-to-back cells conform from a fresh state.
 */
#ifndef RL_LIB_GCRA_H
#define RL_LIB_GCRA_H

#include "vtime.h"

RL_INLINE __u64 rl_gcra_t_q(const struct rl_meter *m)
{
	return m->t_q16[0] >> RL_Q16_SHIFT;
}

RL_INLINE int rl_gcra_conform(const struct rl_meter *m, __u64 *tat, __u64 now_q)
{
	return rl_vt_conform(*tat, now_q, rl_gcra_t_q(m), m->limit_q[0], tat);
}

#endif
