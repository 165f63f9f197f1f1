// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark reference: the least a per-source limiter can do. Parse Ethernet +
 * IPv4/IPv6 (no VLANs, no extension headers), one LRU hash keyed by the exact
 * source address per family, one GCRA word updated by compare-and-swap with the
 * same pure math as the shipped meter (bpf/lib/vtime.h). No rules, counters,
 * events or tiers: what the shipped program costs above this is its overhead.
 *
 * gm_two_tier (RL_BENCH_GM_2TIER=1): the least a two-tier CIDR rule can do,
 * the reference for the two-tier scenario's overhead. An LPM lookup of the
 * source (no match: pass), then the exact source as above, then, if that
 * conformed, its /24 or /64 in a second table with the same GCRA.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "ratelimit/abi.h"
#include "lib/vtime.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* GCRA parameters in q units (set by the bench before load). */
const volatile __u64 gm_t_q = 1;
const volatile __u64 gm_limit_q = 1;
const volatile __u32 gm_two_tier = 0;

/* gm_two_tier: the CIDR prefixes (value unused) and the aggregate tier's state */
struct gm_lpm4_key {
	__u32 prefixlen;
	__be32 addr;
};

struct gm_lpm6_key {
	__u32 prefixlen;
	struct in6_addr addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct gm_lpm4_key);
	__type(value, __u32);
} gm_lpm4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct gm_lpm6_key);
	__type(value, __u32);
} gm_lpm6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1u << 16);
	__type(key, __be32);
	__type(value, __u64);
} gm_agg4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1u << 16);
	__type(key, struct in6_addr);
	__type(value, __u64);
} gm_agg6 SEC(".maps");

/* Source -> TAT (q units); written by this program only. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, RL_STATE_DEFAULT_ENTRIES);
	__type(key, __be32);
	__type(value, __u64);
} gm_state4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, RL_STATE_DEFAULT_ENTRIES);
	__type(key, struct in6_addr);
	__type(value, __u64);
} gm_state6 SEC(".maps");

static __always_inline int gm_take(void *map, const void *key, __u64 now_ns)
{
	__u64 now_q = rl_now_q(now_ns), *tat, fresh, old, next;
	int i;

	tat = bpf_map_lookup_elem(map, key);
	if (!tat) {
		fresh = rl_vt_initial(now_q, gm_limit_q, 0);
		bpf_map_update_elem(map, key, &fresh, BPF_NOEXIST);
		tat = bpf_map_lookup_elem(map, key);
		if (!tat)
			return XDP_PASS;
	}
	for (i = 0; i < RL_CAS_RETRIES; i++) {
		old = *(volatile __u64 *)tat;
		if (!rl_vt_conform(old, now_q, gm_t_q, gm_limit_q, &next))
			return XDP_DROP;
		if (__sync_val_compare_and_swap(tat, old, next) == old)
			return XDP_PASS;
	}
	return XDP_DROP;
}

/* gm_two_tier: the LPM lookup (no match: pass), the exact source, then its
 * aggregate if the source conformed. Maps are constants at each inlined call. */
static __always_inline int gm_two_tiers(void *lpm, const void *lpm_key, void *state,
					const void *key, void *agg, const void *agg_key)
{
	__u64 now;
	int v;

	if (!bpf_map_lookup_elem(lpm, lpm_key))
		return XDP_PASS;
	now = bpf_ktime_get_ns();
	v = gm_take(state, key, now);
	return v == XDP_PASS ? gm_take(agg, agg_key, now) : v;
}

SEC("xdp")
int gcra_min(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return XDP_DROP;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);
		__be32 saddr;

		if ((void *)(iph + 1) > end)
			return XDP_DROP;
		saddr = iph->saddr;
		if (gm_two_tier) {
			struct gm_lpm4_key lk = { .prefixlen = 32, .addr = saddr };
			__be32 agg = saddr & bpf_htonl(0xffffff00);

			return gm_two_tiers(&gm_lpm4, &lk, &gm_state4, &saddr, &gm_agg4, &agg);
		}
		return gm_take(&gm_state4, &saddr, bpf_ktime_get_ns());
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = (void *)(eth + 1);
		struct in6_addr saddr;

		if ((void *)(ip6h + 1) > end)
			return XDP_DROP;
		saddr = ip6h->saddr;
		if (gm_two_tier) {
			struct gm_lpm6_key lk = { .prefixlen = 128, .addr = saddr };
			struct in6_addr agg = saddr;

			agg.in6_u.u6_addr32[2] = 0;
			agg.in6_u.u6_addr32[3] = 0;
			return gm_two_tiers(&gm_lpm6, &lk, &gm_state6, &saddr, &gm_agg6, &agg);
		}
		return gm_take(&gm_state6, &saddr, bpf_ktime_get_ns());
	}
	return XDP_PASS;
}
