/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-CPU counters: plain increments, no atomics (each CPU owns its cell). */
#ifndef RL_STATS_BPF_H
#define RL_STATS_BPF_H

#include "maps.bpf.h"

static __always_inline void rl_count(__u32 rule_id, __u32 reason, __u64 bytes)
{
	__u32 idx = rule_id * RL_REASON__MAX + reason;
	struct rl_counter *c = bpf_map_lookup_elem(&rl_stats, &idx);

	if (!c)
		return;
	c->packets++;
	c->bytes += bytes;
}

static __always_inline void rl_gcount(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&rl_gstats, &which);

	if (v)
		(*v)++;
}

#endif
