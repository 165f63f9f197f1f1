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

/* Samples one in 2^shift packets into rl_talkers. */
static __always_inline void rl_talk(__u32 shift, const struct rl_talker_key *k, __u32 rule_id,
				    __u64 bytes, int drop)
{
	struct rl_talker *t, fresh = {};

	if (!shift || (bpf_get_prandom_u32() & ((1u << (shift & 31)) - 1)))
		return;
	t = bpf_map_lookup_elem(&rl_talkers, k);
	if (!t) {
		fresh.rule_id = rule_id;
		bpf_map_update_elem(&rl_talkers, k, &fresh, BPF_NOEXIST);
		t = bpf_map_lookup_elem(&rl_talkers, k);
		if (!t)
			return;
	}
	t->packets++;
	t->bytes += bytes;
	t->dropped += drop;
	t->rule_id = rule_id;
}

#endif
