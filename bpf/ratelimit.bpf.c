// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * ratelimit: per-source rate limiting in XDP.
 *
 *   parse -> classify (LPM on source, then protocol/port) -> act (allow, deny,
 *   limit) -> meter every tier, then the global ceiling -> count -> verdict
 *
 * Semantics are documented in README.md ("How a packet is judged").
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "ratelimit/abi.h"
#include "lib/parsing.bpf.h"
#include "lib/maps.bpf.h"
#include "lib/stats.bpf.h"
#include "lib/meter.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Load-time constants, set by the loader between open and load. */
const volatile __u32 rl_abi_version = RL_ABI_VERSION;

/*
 * Verifier: the per-tier work lives in global (__noinline, non-static)
 * functions so that it is verified once, not once per tier, family and
 * algorithm at every call site. They take one pointer to this stack struct.
 */
struct rl_tier_args {
	__u64 now_ns;
	__u64 bytes;
	__u32 rule_id;
	__u32 tier;
	__u32 cfg_flags;
	__u8 family;
	__u8 prefix_len;    /* filled by rl_tier_take: the key's prefix */
	__u8 admit;         /* RL_ADMIT_*: admission decision, made once per packet */
	__u8 on_exceed;     /* the rule's enum rl_on_exceed */
	__be32 saddr4;
	__u8 saddr6[16];
	__u8 key_addr[16];  /* filled by rl_tier_take: the key's masked address */
	__u64 block_ns;     /* the rule's block duration (RL_EXCEED_BLOCK) */
};

__noinline int rl_emit(const struct rl_tier_args *a, __u32 type, __u32 reason, __u64 until_ns)
{
	__u32 zero = 0;
	struct rl_config *cfg = bpf_map_lookup_elem(&rl_cfg, &zero);
	struct rl_evlim *lim = bpf_map_lookup_elem(&rl_evlim, &zero);
	struct rl_event *ev;
	__u64 t_q, tat, burst, limit_q;

	if (!a || !cfg || !lim || !cfg->event_rate)
		return 0;
	/* per-CPU virtual-time bucket: event_rate/s with event_burst.
	 * t_q >= 14 (event_rate < 2^32); the burst window is clamped to
	 * RL_MAX_LIMIT_Q so that t_q * burst cannot wrap to a tiny limit */
	t_q = (RL_NSEC_PER_SEC << RL_TIME_SHIFT) / cfg->event_rate;
	burst = cfg->event_burst ? cfg->event_burst : 1;
	limit_q = burst > RL_MAX_LIMIT_Q / t_q ? RL_MAX_LIMIT_Q : t_q * burst;
	tat = lim->tat_q;
	if (!rl_vt_conform(tat, rl_now_q(a->now_ns), t_q, limit_q, &tat)) {
		rl_gcount(RL_GC_EVENT_SUPPRESSED);
		return 0;
	}
	lim->tat_q = tat;

	ev = bpf_ringbuf_reserve(&rl_events, sizeof(*ev), 0);
	if (!ev) {
		rl_gcount(RL_GC_EVENT_LOST);
		return 0;
	}
	ev->ts_ns = a->now_ns;
	ev->until_ns = until_ns;
	ev->rule_id = a->rule_id;
	ev->type = type;
	ev->family = a->family;
	ev->tier = a->tier;
	ev->prefix_len = a->prefix_len;
	ev->reason = reason;
	ev->_pad0 = 0;
	__builtin_memcpy(ev->addr, a->key_addr, sizeof(ev->addr));
	bpf_ringbuf_submit(ev, 0);
	rl_gcount(RL_GC_EVENT_SENT);
	return 0;
}

static __always_inline __be32 rl_mask4(__be32 addr, __u32 plen)
{
	if (plen == 0)
		return 0;
	if (plen >= 32)
		return addr;
	return addr & bpf_htonl(~((1u << (32 - plen)) - 1));
}

/* Masks a 16-byte address to plen bits, one 32-bit word at a time. */
static __always_inline void rl_mask6(__u8 *dst, const __u8 *src, __u32 plen)
{
	__u32 w[4], i;

	__builtin_memcpy(w, src, 16);
#pragma unroll
	for (i = 0; i < 4; i++) {
		__u32 lo = i * 32;

		w[i] = plen >= lo + 32 ? w[i] : rl_mask4(w[i], plen > lo ? plen - lo : 0);
	}
	__builtin_memcpy(dst, w, 16);
}

/* The tier's state key in *k (rl_key4 or rl_key6); also fills a->key_addr/prefix_len. */
static __always_inline void rl_tier_key(struct rl_tier_args *a, const struct rl_meter *m,
					struct rl_key6 *k6, struct rl_key4 *k4)
{
	__builtin_memset(a->key_addr, 0, sizeof(a->key_addr));
	if (a->family == 4) {
		__u32 plen = m->prefix_v4 > 32 ? 32 : m->prefix_v4;

		k4->addr = rl_mask4(a->saddr4, plen);
		k4->rule_id = a->rule_id;
		k4->tier = a->tier;
		k4->prefix_len = plen;
		a->prefix_len = plen;
		__builtin_memcpy(a->key_addr, &k4->addr, 4);
	} else {
		__u32 plen = m->prefix_v6 > 128 ? 128 : m->prefix_v6;

		rl_mask6(k6->addr, a->saddr6, plen);
		k6->rule_id = a->rule_id;
		k6->tier = a->tier;
		k6->prefix_len = plen;
		k6->_pad0 = 0;
		a->prefix_len = plen;
		__builtin_memcpy(a->key_addr, k6->addr, 16);
	}
}

#define RL_TIER_CONFORM 0
#define RL_TIER_EXCEED 1
#define RL_TIER_BLOCKED 2
#define RL_TIER_FULL 3
#define RL_TIER_ERROR 4
#define RL_TIER_UNADMITTED 5   /* no key, and admission refused: charge `unknown` */

#define RL_ADMIT_UNDECIDED 0
#define RL_ADMIT_YES 1
#define RL_ADMIT_PRESSURE 2    /* admitted with less than half the admit burst left */
#define RL_ADMIT_REFUSED 3

/*
 * May this packet create state? Charged to the rule's admission meter once
 * per packet, at its first missing key; later tiers reuse the decision
 * (a->admit). See abi.h "Admission control".
 */
__noinline int rl_admit_new(struct rl_tier_args *a)
{
	const struct rl_rule *rule;
	struct rl_admit_state *s;
	__u32 rid;

	if (!a)
		return RL_ADMIT_REFUSED;
	if (a->admit != RL_ADMIT_UNDECIDED)
		return a->admit;
	rid = a->rule_id;
	rule = bpf_map_lookup_elem(&rl_rules, &rid);
	s = bpf_map_lookup_elem(&rl_admit, &rid);
	if (!rule || !s || rule->admit.algo == RL_ALGO_NONE)
		a->admit = RL_ADMIT_YES;
	else if (!rl_meter_take(&rule->admit, &s->admit, a->now_ns, a->bytes))
		a->admit = RL_ADMIT_REFUSED;
	else if (rl_meter_pressure(&rule->admit, &s->admit, a->now_ns))
		a->admit = RL_ADMIT_PRESSURE;
	else
		a->admit = RL_ADMIT_YES;
	if (a->admit == RL_ADMIT_REFUSED)
		rl_gcount(RL_GC_ADMIT_REFUSED);
	return a->admit;
}

/* Key of one tier plus its state map, penalty-box map and rule meter. */
struct rl_tier_ref {
	struct rl_key4 k4;
	struct rl_key6 k6;
	void *key;
	void *state_map;
	void *block_map;
	const struct rl_meter *m;
	__u16 gen;
};

static __always_inline int rl_tier_ref(struct rl_tier_args *a, struct rl_tier_ref *t)
{
	const struct rl_rule *rule = bpf_map_lookup_elem(&rl_rules, &a->rule_id);
	__u32 tier = a->tier;

	if (!rule || tier >= RL_MAX_TIERS)
		return -1;
	t->m = &rule->tiers[tier];
	t->gen = (__u16)rule->generation;
	rl_tier_key(a, t->m, &t->k6, &t->k4);
	if (a->family == 4) {
		t->key = &t->k4;
		t->state_map = &rl_state4;
		t->block_map = &rl_block4;
	} else {
		t->key = &t->k6;
		t->state_map = &rl_state6;
		t->block_map = &rl_block6;
	}
	return 0;
}

/*
 * The tier refused the packet (the packet's final outcome is RL_OUT_RATE):
 * edge-triggered LIMIT_START, and the penalty box for RL_EXCEED_BLOCK. Done
 * here, with the state at hand, rather than looked up again by the caller.
 */
static __always_inline void rl_tier_exceeded(struct rl_tier_args *a, struct rl_tier_ref *t,
					     struct rl_state *st)
{
	struct rl_block b = {};

	/* the atomic fetch-or makes exactly one CPU see the edge */
	if (!(st->meta & RL_ST_F_LIMITED) &&
	    !(__sync_fetch_and_or(&st->meta, (__u32)RL_ST_F_LIMITED) & RL_ST_F_LIMITED))
		rl_emit(a, RL_EV_LIMIT_START,
			a->on_exceed == RL_EXCEED_MONITOR ? RL_REASON_SHADOW_RATE : RL_REASON_DROP_RATE, 0);
	if (a->on_exceed != RL_EXCEED_BLOCK)
		return;
	b.until_ns = a->now_ns + a->block_ns;
	b.since_ns = a->now_ns;
	if (bpf_map_update_elem(t->block_map, t->key, &b, BPF_ANY)) {
		rl_gcount(RL_GC_BLOCK_INSERT_FAIL);
		return;
	}
	rl_gcount(RL_GC_BLOCK_INSERT);
	__sync_fetch_and_or(&st->meta, (__u32)RL_ST_F_BLOCKED);
	rl_emit(a, RL_EV_BLOCK_START, RL_REASON_DROP_RATE, b.until_ns);
}

/*
 * One tier of a limit rule: find or create the key's state, honour the
 * penalty box, then take one packet from the meter.
 */
__noinline int rl_tier_take(struct rl_tier_args *a)
{
	struct rl_tier_ref t;
	struct rl_state *st, fresh;
	struct rl_block *b;
	int start_empty, pressure;

	if (!a || rl_tier_ref(a, &t))
		return RL_TIER_ERROR;
	start_empty = !!(a->cfg_flags & RL_CFG_F_NEW_EMPTY);

	st = bpf_map_lookup_elem(t.state_map, t.key);
	if (!st) {
		/* the penalty box outlives key state (state evicted by the LRU, or
		 * discarded by --force-reset): an actively blocked key stays blocked
		 * and needs no state, nor a charge to the admission meter */
		b = bpf_map_lookup_elem(t.block_map, t.key);
		if (b && a->now_ns < b->until_ns)
			return RL_TIER_BLOCKED;
		/* admission control: a refused packet never touches the LRU */
		switch (rl_admit_new(a)) {
		case RL_ADMIT_REFUSED:
			return RL_TIER_UNADMITTED;
		case RL_ADMIT_PRESSURE:
			pressure = !!(a->cfg_flags & RL_CFG_F_NEW_EMPTY_PRESSURE);
			break;
		default:
			pressure = 0;
		}
		rl_state_init(&fresh, t.m, t.gen, a->now_ns, start_empty | pressure);
		if (b) /* expired entry: the check below removes it and emits BLOCK_END */
			fresh.meta |= RL_ST_F_BLOCKED;
		/* EEXIST: another CPU created it first, the lookup below finds theirs */
		bpf_map_update_elem(t.state_map, t.key, &fresh, BPF_NOEXIST);
		st = bpf_map_lookup_elem(t.state_map, t.key);
		if (!st) {
			rl_gcount(RL_GC_KEY_INSERT_FAIL);
			return RL_TIER_FULL;
		}
		rl_gcount(RL_GC_KEY_INSERT);
		if (pressure)
			rl_gcount(RL_GC_KEY_INSERT_EMPTY);
	} else if (RL_ST_ALGO(st->meta) != t.m->algo || RL_ST_GEN(st->meta) != t.gen) {
		/* the rule changed incompatibly: restart this key's meter (racy,
		 * benign); its penalty-box entry, if any, stays authoritative */
		__u32 blocked = st->meta & RL_ST_F_BLOCKED;

		rl_state_init(st, t.m, t.gen, a->now_ns, start_empty);
		if (blocked)
			__sync_fetch_and_or(&st->meta, (__u32)RL_ST_F_BLOCKED);
	}
	st->seen = (__u32)(a->now_ns >> RL_SEEN_SHIFT);

	if (st->meta & RL_ST_F_BLOCKED) {
		b = bpf_map_lookup_elem(t.block_map, t.key);
		if (b && a->now_ns < b->until_ns)
			return RL_TIER_BLOCKED;
		if (b)
			bpf_map_delete_elem(t.block_map, t.key);
		__sync_fetch_and_and(&st->meta, ~(__u32)RL_ST_F_BLOCKED);
		rl_emit(a, RL_EV_BLOCK_END, RL_REASON_DROP_BLOCKED, 0);
	}
	if (!rl_meter_take(t.m, st, a->now_ns, a->bytes)) {
		rl_tier_exceeded(a, &t, st);
		return RL_TIER_EXCEED;
	}
	/* LIMIT_END for the tier that was limited, whichever tier that was; the
	 * atomic fetch-and makes exactly one CPU see the edge */
	if ((st->meta & RL_ST_F_LIMITED) &&
	    (__sync_fetch_and_and(&st->meta, ~(__u32)RL_ST_F_LIMITED) & RL_ST_F_LIMITED))
		rl_emit(a, RL_EV_LIMIT_END, RL_REASON_PASS, 0);
	return RL_TIER_CONFORM;
}

/* Gives back what rl_tier_take took (a later tier or the ceiling said no). */
__noinline int rl_tier_refund(struct rl_tier_args *a)
{
	struct rl_tier_ref t;
	struct rl_state *st;

	if (!a || rl_tier_ref(a, &t))
		return 0;
	st = bpf_map_lookup_elem(t.state_map, t.key);
	if (st)
		rl_meter_refund(t.m, st, a->bytes);
	return 0;
}

/* First candidate whose protocol/port narrowing matches; RL_RULE_DEFAULT if none. */
__noinline __u32 rl_classify(const struct rl_pkt *p)
{
	struct rl_match_set *set;
	__u32 i;

	if (!p)
		return RL_RULE_DEFAULT;
	if (p->family == 4) {
		struct rl_lpm4_key k = { .prefixlen = 32, .addr = p->saddr4 };

		set = bpf_map_lookup_elem(&rl_lpm4, &k);
	} else {
		struct rl_lpm6_key k = { .prefixlen = 128 };

		__builtin_memcpy(k.addr, p->saddr6, 16);
		set = bpf_map_lookup_elem(&rl_lpm6, &k);
	}
	if (!set)
		return RL_RULE_DEFAULT;
	for (i = 0; i < RL_MAX_MATCH; i++) {
		const struct rl_match *m = &set->m[i];

		if (i >= set->count)
			break;
		if ((m->flags & RL_RULE_F_PROTO) && m->proto != p->l4proto)
			continue;
		if ((m->flags & RL_RULE_F_PORTS) && (p->dport < m->port_lo || p->dport > m->port_hi))
			continue;
		if (m->rule_id < RL_MAX_RULES)
			return m->rule_id;
	}
	return RL_RULE_DEFAULT;
}

/* 1 if an override installed by a controller blocks this source right now. */
static __always_inline int rl_override_blocks(const struct rl_config *cfg,
					      const struct rl_pkt *p, __u64 now_ns)
{
	struct rl_override *o;

	if (!(cfg->flags & RL_CFG_F_OVERRIDES))
		return 0;
	if (p->family == 4)
		o = bpf_map_lookup_elem(&rl_ovr4, &p->saddr4);
	else
		o = bpf_map_lookup_elem(&rl_ovr6, p->saddr6);
	return o && o->block_until_ns > now_ns;
}

#define RL_OUT_PASS 0
#define RL_OUT_RATE 1
#define RL_OUT_GLOBAL 2
#define RL_OUT_BLOCKED 3
#define RL_OUT_STATE_FULL 4
#define RL_OUT_UNKNOWN 5

/*
 * Meters a packet against a limit rule: every tier (a tier refused admission
 * is replaced by the rule's unknown-sources meter, charged once), then the
 * global ceiling. A policer: a packet that does not conform everywhere takes
 * nothing. Returns RL_OUT_*.
 */
static __always_inline int rl_limit(const struct rl_rule *r, struct rl_tier_args *a)
{
	__u32 n = r->n_tiers > RL_MAX_TIERS ? RL_MAX_TIERS : r->n_tiers;
	__u32 t, charged = 0, rid = a->rule_id;
	struct rl_admit_state *adm = NULL;
	int ret = RL_OUT_PASS;

	for (t = 0; t < RL_MAX_TIERS; t++) {
		int v;

		if (t >= n)
			break;
		a->tier = t;
		v = rl_tier_take(a);
		if (v == RL_TIER_CONFORM)
			charged |= 1u << t;
		if (v == RL_TIER_CONFORM || v == RL_TIER_UNADMITTED)
			continue;
		ret = v == RL_TIER_BLOCKED ? RL_OUT_BLOCKED :
		      v == RL_TIER_EXCEED  ? RL_OUT_RATE :
		      v == RL_TIER_FULL    ? RL_OUT_STATE_FULL : RL_OUT_PASS;
		break;
	}
	if (ret == RL_OUT_PASS && a->admit == RL_ADMIT_REFUSED) {
		/* unknown.algo NONE: no allowance (abi.h) */
		adm = bpf_map_lookup_elem(&rl_admit, &rid);
		if (!adm || r->unknown.algo == RL_ALGO_NONE ||
		    !rl_meter_take(&r->unknown, &adm->unknown, a->now_ns, a->bytes)) {
			adm = NULL;
			ret = RL_OUT_UNKNOWN;
		}
	}
	if (ret == RL_OUT_PASS && r->has_global) {
		struct rl_state *g = bpf_map_lookup_elem(&rl_global, &rid);

		if (g && !rl_meter_take(&r->global, g, a->now_ns, a->bytes)) {
			ret = RL_OUT_GLOBAL;
		}
	}
	if (ret == RL_OUT_PASS)
		return ret;
	if (adm)
		rl_meter_refund(&r->unknown, &adm->unknown, a->bytes);
	for (t = 0; t < RL_MAX_TIERS; t++) {
		if (t >= n)
			break;
		if (!(charged & (1u << t)))
			continue;
		a->tier = t;
		rl_tier_refund(a);
	}
	return ret;
}

static __always_inline int rl_verdict(__u32 rule_id, __u32 reason, __u64 bytes, int drop)
{
	rl_count(rule_id, reason, bytes);
	return drop ? XDP_DROP : XDP_PASS;
}

/* Verdict for an IP packet that reached a rule: counted and sampled for `top`. */
static __always_inline int rl_ip_verdict(const struct rl_config *cfg, const struct rl_talker_key *tk,
					 __u32 rule_id, __u32 reason, __u64 bytes, int drop)
{
	rl_talk(cfg->talker_shift, tk, rule_id, bytes, drop);
	return rl_verdict(rule_id, reason, bytes, drop);
}

SEC("xdp")
int rl_xdp(struct xdp_md *ctx)
{
	__u64 frame_bytes = ctx->data_end - ctx->data;
	struct rl_tier_args a = {};
	const struct rl_config *cfg;
	const struct rl_rule *rule;
	struct rl_pkt pkt = {};
	struct rl_talker_key tk = {};
	__u32 zero = 0, rule_id;
	int ret, monitor;

	cfg = bpf_map_lookup_elem(&rl_cfg, &zero);
	if (!cfg)
		return XDP_PASS;

	ret = rl_parse(ctx, &pkt);
	if (ret == RL_PARSE_NON_IP)
		return rl_verdict(RL_RULE_NONE, RL_REASON_NON_IP, frame_bytes, 0);
	if (ret != RL_PARSE_OK)
		return rl_verdict(RL_RULE_NONE, RL_REASON_MALFORMED, frame_bytes,
				  cfg->malformed_verdict == RL_VERDICT_DROP);

	a.now_ns = bpf_ktime_get_ns();
	a.bytes = (cfg->flags & RL_CFG_F_L2_BYTES) ? frame_bytes : pkt.l3_bytes;
	a.cfg_flags = cfg->flags;
	a.family = pkt.family;
	a.saddr4 = pkt.saddr4;
	__builtin_memcpy(a.saddr6, pkt.saddr6, sizeof(a.saddr6));
	tk.family = pkt.family;
	if (pkt.family == 4)
		__builtin_memcpy(tk.addr, &pkt.saddr4, 4);
	else
		__builtin_memcpy(tk.addr, pkt.saddr6, 16);

	rule_id = rl_classify(&pkt);
	rule = bpf_map_lookup_elem(&rl_rules, &rule_id);
	if (!rule)
		return rl_verdict(RL_RULE_NONE, RL_REASON_ALLOW, a.bytes, 0);
	a.rule_id = rule_id;

	if (rl_override_blocks(cfg, &pkt, a.now_ns))
		return rl_ip_verdict(cfg, &tk, rule_id, RL_REASON_OVERRIDE_BLOCK, a.bytes, 1);

	switch (rule->action) {
	case RL_ACT_LIMIT:
		break;
	case RL_ACT_DENY:
		return rl_ip_verdict(cfg, &tk, rule_id, RL_REASON_DROP_DENY, a.bytes, 1);
	default: /* RL_ACT_ALLOW */
		return rl_ip_verdict(cfg, &tk, rule_id, RL_REASON_ALLOW, a.bytes, 0);
	}

	monitor = rule->on_exceed == RL_EXCEED_MONITOR;
	a.on_exceed = rule->on_exceed;
	a.block_ns = rule->block_ns;
	switch (rl_limit(rule, &a)) {
	case RL_OUT_PASS:
		return rl_ip_verdict(cfg, &tk, rule_id, RL_REASON_PASS, a.bytes, 0);
	case RL_OUT_BLOCKED:
		return rl_ip_verdict(cfg, &tk, rule_id, RL_REASON_DROP_BLOCKED, a.bytes, 1);
	case RL_OUT_STATE_FULL:
		return rl_ip_verdict(cfg, &tk, rule_id, RL_REASON_STATE_FULL, a.bytes,
				  cfg->state_full_verdict == RL_VERDICT_DROP);
	case RL_OUT_UNKNOWN:
		if (monitor)
			return rl_ip_verdict(cfg, &tk, rule_id, RL_REASON_SHADOW_UNKNOWN, a.bytes, 0);
		return rl_ip_verdict(cfg, &tk, rule_id, RL_REASON_DROP_UNKNOWN, a.bytes, 1);
	case RL_OUT_GLOBAL:
		if (monitor)
			return rl_ip_verdict(cfg, &tk, rule_id, RL_REASON_SHADOW_GLOBAL, a.bytes, 0);
		return rl_ip_verdict(cfg, &tk, rule_id, RL_REASON_DROP_GLOBAL, a.bytes, 1);
	default: /* RL_OUT_RATE: rl_tier_take raised LIMIT_START / blocked the key */
		if (monitor)
			return rl_ip_verdict(cfg, &tk, rule_id, RL_REASON_SHADOW_RATE, a.bytes, 0);
		return rl_ip_verdict(cfg, &tk, rule_id, RL_REASON_DROP_RATE, a.bytes, 1);
	}
}
