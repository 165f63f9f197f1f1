/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Every map of the ratelimit program. Names and value layouts: include/ratelimit/abi.h. */
#ifndef RL_MAPS_BPF_H
#define RL_MAPS_BPF_H

#include <linux/bpf.h>
#include <linux/in6.h>
#include <bpf/bpf_helpers.h>

#include "ratelimit/abi.h"

/* Run-time configuration (verdicts for odd packets, event rate); written by the daemon. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rl_config);
} rl_cfg SEC(".maps");

/* Rules by id; written by the daemon on (re)load. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RL_MAX_RULES);
	__type(key, __u32);
	__type(value, struct rl_rule);
} rl_rules SEC(".maps");

/* Rule names and generations by id; the daemon's own record, unused here. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RL_MAX_RULES);
	__type(key, __u32);
	__type(value, struct rl_rule_meta);
} rl_rulemeta SEC(".maps");

/* Source prefix -> candidate rules in precedence order; written by the daemon. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, RL_LPM_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rl_lpm4_key);
	__type(value, struct rl_match_set);
} rl_lpm4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, RL_LPM_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rl_lpm6_key);
	__type(value, struct rl_match_set);
} rl_lpm6 SEC(".maps");

/* Meter state per (rule, tier, source prefix); written by the fast path.
 * LRU: keys are chosen by senders. Capacity set by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, RL_STATE_DEFAULT_ENTRIES);
	__type(key, struct rl_key4);
	__type(value, struct rl_state);
} rl_state4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, RL_STATE_DEFAULT_ENTRIES);
	__type(key, struct rl_key6);
	__type(value, struct rl_state);
} rl_state6 SEC(".maps");

/* Penalty box per key; written by the fast path (block action) and the daemon. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, RL_BLOCK_DEFAULT_ENTRIES);
	__type(key, struct rl_key4);
	__type(value, struct rl_block);
} rl_block4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, RL_BLOCK_DEFAULT_ENTRIES);
	__type(key, struct rl_key6);
	__type(value, struct rl_block);
} rl_block6 SEC(".maps");

/* Per-address overrides installed by a (cluster) controller; read by the fast path
 * only while rl_cfg has RL_CFG_F_OVERRIDES. Keyed by the exact source address. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RL_OVERRIDE_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __be32);
	__type(value, struct rl_override);
} rl_ovr4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RL_OVERRIDE_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct in6_addr);
	__type(value, struct rl_override);
} rl_ovr6 SEC(".maps");

/* Global ceiling state per rule (one meter over all keys); written by the fast path. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RL_MAX_RULES);
	__type(key, __u32);
	__type(value, struct rl_state);
} rl_global SEC(".maps");

/* Admission control state per rule (new-key and unknown-source meters, see
 * abi.h "Admission control"); written by the fast path, zeroed by the daemon. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RL_MAX_RULES);
	__type(key, __u32);
	__type(value, struct rl_admit_state);
} rl_admit SEC(".maps");

/* Counters per rule and reason, per CPU; written by the fast path, summed at scrape. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RL_STATS_ENTRIES);
	__type(key, __u32);
	__type(value, struct rl_counter);
} rl_stats SEC(".maps");

/* Global counters (enum rl_gcounter), per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RL_GC__MAX);
	__type(key, __u32);
	__type(value, __u64);
} rl_gstats SEC(".maps");

/* Limit/block events for the daemon. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RL_RINGBUF_BYTES);
} rl_events SEC(".maps");

/* Sampled per-source packet/drop counts for `top`; written by the fast path,
 * read (and aged out) by the daemon. Per-CPU LRU: no cross-CPU contention. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, RL_TALKERS_ENTRIES);
	__type(key, struct rl_talker_key);
	__type(value, struct rl_talker);
} rl_talkers SEC(".maps");

/* LPM hint (abi.h): buckets any CIDR rule can match; written by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RL_HINT_ENTRIES);
	__type(key, __u32);
	__type(value, __u64);
} rl_lpmhint SEC(".maps");

/* Refusal cache (abi.h): per CPU, direct-mapped, not state (never pinned). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RL_DCACHE_SLOTS + 1);   /* + this CPU's summary */
	__type(key, __u32);
	__type(value, struct rl_dcache);
} rl_dcache SEC(".maps");

/* Known-key filter (abi.h): bits of the state keys; not state (never pinned). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct rl_known);
} rl_known SEC(".maps");

/* Per-CPU scratch for the current tier's key and for values written into
 * other maps (a new key's state, a penalty-box entry): off the BPF stack,
 * whose 512 bytes the inlined per-key path needs. XDP does not nest on a CPU
 * (it runs with bottom halves off), and one packet's tiers run one by one. */
struct rl_scratch {
	union {                     /* by family */
		struct rl_key4 k4;
		struct rl_key6 k6;
		__u64 w[3];         /* written as words: no store-forwarding stall when read */
	} key;
	struct rl_state state;
	struct rl_block block;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rl_scratch);
} rl_scratch SEC(".maps");

/* Event rate limiter state, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rl_evlim);
} rl_evlim SEC(".maps");

#endif
