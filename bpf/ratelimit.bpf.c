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
#include "lib/lpm_hint.h"
#include "lib/known.h"

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
	/* addresses as two 64-bit words holding their bytes in network order
	 * (IPv4 in the low 32 bits of the first), as rl_dcache holds them:
	 * loaded and stored whole, never byte by byte */
	__u64 src[2];       /* the packet's source */
	__u64 key_addr[2];  /* filled by rl_tier_take: the key's masked address */
	__u32 rule_id;
	__u32 tier;
	__u32 cfg_flags;
	__u8 family;
	__u8 prefix_len;    /* filled by rl_tier_take: the key's prefix */
	__u8 admit;         /* RL_ADMIT_*: admission decision, made once per packet */
	__u8 on_exceed;     /* the rule's enum rl_on_exceed */
	__u64 block_ns;     /* the rule's block duration (RL_EXCEED_BLOCK) */
	__u64 ready_ns;     /* set by rl_tier_take on EXCEED/BLOCKED: refused until then (0: unknown) */
	__u8 first_tier;    /* rl_limit meters this tier first (the one that refused last time) */
	__u8 refused_tier;  /* set by rl_limit: the tier that refused */
	__u8 unknown;       /* RL_UNKNOWN_*: rl_admit_new charged the unknown meter */
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

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "keys are built as little-endian 64-bit words (rl_tier_key)"
#endif

/* Masks 8 address bytes held in a word (network order in memory) to plen bits. */
static __always_inline __u64 rl_mask64(__u64 w, __u32 plen)
{
	if (plen == 0)
		return 0;
	if (plen >= 64)
		return w;
	return w & __builtin_bswap64(~0ull << (64 - plen));
}

/*
 * The source masked to the meter's prefix for its family, as two words
 * (IPv4 in the low 32 bits of *w0, *w1 = 0); returns the prefix length,
 * at most the address's.
 */
static __always_inline __u32 rl_tier_prefix(const struct rl_meter *m, const struct rl_tier_args *a,
					    __u64 *w0, __u64 *w1)
{
	__u32 plen;

	if (a->family == 4) {
		plen = m->prefix_v4 > 32 ? 32 : m->prefix_v4;
		*w0 = rl_mask4((__be32)a->src[0], plen);
		*w1 = 0;
		return plen;
	}
	plen = m->prefix_v6 > 128 ? 128 : m->prefix_v6;
	*w0 = rl_mask64(a->src[0], plen);
	*w1 = rl_mask64(a->src[1], plen > 64 ? plen - 64 : 0);
	return plen;
}

/*
 * The tier's state key, built in registers and stored as whole words in
 * *kw (an rl_key4 or rl_key6): the hash table and the known-key filter read
 * it right away, and a load spanning several narrower stores would stall
 * (no store forwarding). Also fills a->key_addr/prefix_len. Returns the
 * key's bit in the known-key filter.
 */
static __always_inline __u32 rl_tier_key(struct rl_tier_args *a, const struct rl_meter *m,
					 __u64 *kw)
{
	__u64 id = (__u16)a->rule_id | (__u64)(__u8)a->tier << 16, w0, w1;
	__u32 plen = rl_tier_prefix(m, a, &w0, &w1);

	a->key_addr[0] = w0;
	a->key_addr[1] = w1;
	a->prefix_len = plen;
	id |= (__u64)plen << 24;
	if (a->family == 4) {
		/* rl_key4: addr, rule_id, tier, prefix_len */
		w0 |= id << 32;
		kw[0] = w0;
		return rl_known_bit4w(w0);
	}
	/* rl_key6: addr[16], rule_id, tier, prefix_len, _pad0 */
	kw[0] = w0;
	kw[1] = w1;
	kw[2] = id;
	return rl_known_bit6w(w0, w1, id);
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

#define RL_UNKNOWN_UNCHARGED 0
#define RL_UNKNOWN_TAKEN 1
#define RL_UNKNOWN_REFUSED 2

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
	else if (!__rl_meter_take(&rule->admit, &s->admit, a->now_ns, a->bytes, NULL))
		a->admit = RL_ADMIT_REFUSED;
	else if (rl_meter_pressure(&rule->admit, &s->admit, a->now_ns))
		a->admit = RL_ADMIT_PRESSURE;
	else
		a->admit = RL_ADMIT_YES;
	if (a->admit == RL_ADMIT_REFUSED) {
		rl_gcount(RL_GC_ADMIT_REFUSED);
		/* one tier: nothing can refuse between it and the unknown meter,
		 * which is charged here, in this call, rather than in another
		 * (every call costs a mispredicted return, see rl_tier_take) */
		if (rule && s && rule->n_tiers == 1)
			a->unknown = rule->unknown.algo != RL_ALGO_NONE &&
				     __rl_meter_take(&rule->unknown, &s->unknown, a->now_ns,
						     a->bytes, NULL) ?
				     RL_UNKNOWN_TAKEN : RL_UNKNOWN_REFUSED;
	}
	return a->admit;
}

/* Key of one tier (in rl_scratch), its family and its rule meter. */
struct rl_tier_ref {
	void *key;
	const struct rl_meter *m;
	__u32 known_bit;    /* the key's bit in rl_known (bpf/lib/known.h) */
	__u16 gen;
	__u8 family;
};

/*
 * The tier's maps, one per call site: the verifier inlines a lookup whose call
 * site sees one map only (a direct call of the hash table's lookup) and turns
 * an update or delete into a direct call of the map's own function, while a
 * map pointer held in a variable goes through bpf_map_lookup_elem and the
 * map's ops: one more call, an indirect call and two more mispredicted
 * returns (SRSO) per packet. RL_PER_FAMILY(fam, helper, map4, map6, args...)
 * calls the helper on the family's map; the empty asm after the IPv4 call
 * keeps clang from merging the two calls into one on a variable map pointer.
 */
#define RL_PER_FAMILY(fam, helper, map4, map6, ...) ({		\
	typeof(helper(&map4, __VA_ARGS__)) __r;			\
	if ((fam) == 4) {					\
		__r = helper(&map4, __VA_ARGS__);		\
		asm volatile("" : "+r"(__r));			\
	} else {						\
		__r = helper(&map6, __VA_ARGS__);		\
	}							\
	__r;							\
})

#define rl_state_lookup(t) \
	((struct rl_state *)RL_PER_FAMILY((t)->family, bpf_map_lookup_elem, rl_state4, rl_state6, (t)->key))
#define rl_state_insert(t, st) \
	RL_PER_FAMILY((t)->family, bpf_map_update_elem, rl_state4, rl_state6, (t)->key, st, BPF_NOEXIST)
#define rl_block_lookup(t) \
	((struct rl_block *)RL_PER_FAMILY((t)->family, bpf_map_lookup_elem, rl_block4, rl_block6, (t)->key))
#define rl_block_update(t, b) \
	RL_PER_FAMILY((t)->family, bpf_map_update_elem, rl_block4, rl_block6, (t)->key, b, BPF_ANY)
#define rl_block_delete(t) \
	RL_PER_FAMILY((t)->family, bpf_map_delete_elem, rl_block4, rl_block6, (t)->key)

static __always_inline int rl_tier_ref(struct rl_tier_args *a, struct rl_tier_ref *t)
{
	const struct rl_rule *rule = bpf_map_lookup_elem(&rl_rules, &a->rule_id);
	__u32 tier = a->tier, zero = 0;
	struct rl_scratch *sc = bpf_map_lookup_elem(&rl_scratch, &zero);

	if (!rule || !sc || tier >= RL_MAX_TIERS)
		return -1;
	t->m = &rule->tiers[tier];
	t->gen = (__u16)rule->generation;
	t->known_bit = rl_tier_key(a, t->m, sc->key.w);
	t->key = sc->key.w;
	t->family = a->family;
	return 0;
}

/* The known-key filter (abi.h): 0 if the key surely has no state, 1 if it may. */
static __always_inline int rl_known_maybe(const struct rl_known *k, const struct rl_tier_ref *t)
{
	__u64 half;

	if (!k)
		return 1;
	half = k->active;
	if (!half)
		return 1;
	return !!(k->words[(half - 1) & 1][rl_known_word(t->known_bit) & (RL_KNOWN_WORDS - 1)] &
		  rl_known_mask(t->known_bit));
}

/* A key was inserted: its bit in both halves, built or not (a rebuild may be
 * zeroing either one). */
static __always_inline void rl_known_add(struct rl_known *k, const struct rl_tier_ref *t)
{
	__u32 w = rl_known_word(t->known_bit) & (RL_KNOWN_WORDS - 1);
	__u64 mask = rl_known_mask(t->known_bit);

	if (!(k->words[0][w] & mask))
		__sync_fetch_and_or(&k->words[0][w], mask);
	if (!(k->words[1][w] & mask))
		__sync_fetch_and_or(&k->words[1][w], mask);
}

/*
 * The tier refused the packet (the packet's final outcome is RL_OUT_RATE):
 * edge-triggered LIMIT_START, and the penalty box for RL_EXCEED_BLOCK. Done
 * here, with the state at hand, rather than looked up again by the caller.
 */
static __always_inline void rl_tier_exceeded(struct rl_tier_args *a, struct rl_tier_ref *t,
					     struct rl_state *st)
{
	__u32 zero = 0;
	struct rl_scratch *sc;
	struct rl_block *b;

	/* the atomic fetch-or makes exactly one CPU see the edge */
	if (!(st->meta & RL_ST_F_LIMITED) &&
	    !(__sync_fetch_and_or(&st->meta, (__u32)RL_ST_F_LIMITED) & RL_ST_F_LIMITED))
		rl_emit(a, RL_EV_LIMIT_START,
			a->on_exceed == RL_EXCEED_MONITOR ? RL_REASON_SHADOW_RATE : RL_REASON_DROP_RATE, 0);
	if (a->on_exceed != RL_EXCEED_BLOCK)
		return;
	/* this packet counts as `rate`, the next ones as `blocked`: let the next
	 * one, which finds the block, fill the refusal cache */
	a->ready_ns = 0;
	sc = bpf_map_lookup_elem(&rl_scratch, &zero);
	if (!sc) {
		rl_gcount(RL_GC_BLOCK_INSERT_FAIL);
		return;
	}
	b = &sc->block;
	b->until_ns = a->now_ns + a->block_ns;
	b->since_ns = a->now_ns;
	if (rl_block_update(t, b)) {
		rl_gcount(RL_GC_BLOCK_INSERT_FAIL);
		return;
	}
	rl_gcount(RL_GC_BLOCK_INSERT);
	__sync_fetch_and_or(&st->meta, (__u32)RL_ST_F_BLOCKED);
	rl_emit(a, RL_EV_BLOCK_START, RL_REASON_DROP_RATE, b->until_ns);
}

/*
 * One tier of a limit rule: find or create the key's state, honour the
 * penalty box, then take one packet from the meter. Inlined for rules with one
 * tier (rl_limit), the global function rl_tier_take for the others: with the
 * SRSO "safe RET" mitigation every return from a BPF function mispredicts,
 * ~15 ns per call on this kernel.
 */
static __always_inline int __rl_tier_take(struct rl_tier_args *a)
{
	struct rl_tier_ref t;
	struct rl_state *st, *fresh;
	struct rl_known *known;
	struct rl_scratch *sc;
	struct rl_block *b;
	int start_empty, pressure, inserted;
	__u32 zero = 0;

	if (!a || rl_tier_ref(a, &t))
		return RL_TIER_ERROR;
	start_empty = !!(a->cfg_flags & RL_CFG_F_NEW_EMPTY);
	known = bpf_map_lookup_elem(&rl_known, &zero);

	st = rl_known_maybe(known, &t) ? rl_state_lookup(&t) : NULL;
	if (!st) {
		/* the penalty box outlives key state (state evicted by the LRU, or
		 * discarded by --force-reset): an actively blocked key stays blocked
		 * and needs no state, nor a charge to the admission meter (no
		 * lookup while no rule blocks and no block is left: a spoofed
		 * flood of new sources pays one hash miss, not two) */
		b = (a->cfg_flags & RL_CFG_F_BLOCKS) ? rl_block_lookup(&t) : NULL;
		if (b && a->now_ns < b->until_ns) {
			a->ready_ns = b->until_ns;
			return RL_TIER_BLOCKED;
		}
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
		sc = bpf_map_lookup_elem(&rl_scratch, &zero);
		if (!sc) {
			rl_gcount(RL_GC_KEY_INSERT_FAIL);
			return RL_TIER_FULL;
		}
		fresh = &sc->state;
		rl_state_init(fresh, t.m, t.gen, a->now_ns, start_empty | pressure);
		if (b) /* expired entry: the check below removes it and emits BLOCK_END */
			fresh->meta |= RL_ST_F_BLOCKED;
		/* EEXIST: another CPU created it first, the lookup below finds theirs */
		inserted = !rl_state_insert(&t, fresh);
		st = rl_state_lookup(&t);
		if (!st) {
			rl_gcount(RL_GC_KEY_INSERT_FAIL);
			return RL_TIER_FULL;
		}
		if (known)
			rl_known_add(known, &t);
		if (inserted) {
			rl_gcount(RL_GC_KEY_INSERT);
			if (pressure)
				rl_gcount(RL_GC_KEY_INSERT_EMPTY);
		}
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
		b = rl_block_lookup(&t);
		if (b && a->now_ns < b->until_ns) {
			a->ready_ns = b->until_ns;
			return RL_TIER_BLOCKED;
		}
		if (b)
			rl_block_delete(&t);
		__sync_fetch_and_and(&st->meta, ~(__u32)RL_ST_F_BLOCKED);
		rl_emit(a, RL_EV_BLOCK_END, RL_REASON_DROP_BLOCKED, 0);
	}
	if (!__rl_meter_take(t.m, st, a->now_ns, a->bytes, &a->ready_ns)) {
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

__noinline int rl_tier_take(struct rl_tier_args *a)
{
	return __rl_tier_take(a);
}

/* Gives back what rl_tier_take took (a later tier or the ceiling said no). */
__noinline int rl_tier_refund(struct rl_tier_args *a)
{
	struct rl_tier_ref t;
	struct rl_state *st;

	if (!a || rl_tier_ref(a, &t))
		return 0;
	st = rl_state_lookup(&t);
	if (st)
		rl_meter_refund(t.m, st, a->bytes);
	return 0;
}

/* rl_classify's result: the rule id, plus this if protocol/port narrowing was looked at */
#define RL_CLS_F_PORTS (1u << 31)
#define RL_CLS_NONE (~0u)   /* not classified yet */

/* Is the bucket's bit clear in a bitmap of rl_lpmhint? */
static __always_inline int rl_hint_clear(__u32 bitmap, __u32 bucket)
{
	__u32 idx = rl_hint_word(bitmap, bucket);
	__u64 *w = bpf_map_lookup_elem(&rl_lpmhint, &idx);

	return w && !(*w & rl_hint_bit(bucket));
}

/* 1 if no CIDR prefix can hold this source: the LPM lookup can be skipped. */
static __always_inline int rl_hint_no_prefix(const struct rl_pkt *p, __u32 cfg_flags)
{
	if (p->family == 4)
		return (cfg_flags & RL_CFG_F_HINT4) &&
		       rl_hint_clear(RL_HINT_V4, rl_hint4_bucket((const __u8 *)&p->saddr4));
	return (cfg_flags & RL_CFG_F_HINT6) &&
	       rl_hint_clear(RL_HINT_V6_48, rl_hint6_bucket48(p->saddr6)) &&
	       rl_hint_clear(RL_HINT_V6_32, rl_hint6_bucket32(p->saddr6));
}

/*
 * The LPM lookup (the caller checked the LPM hint), then the first candidate
 * whose protocol/port narrowing matches; RL_RULE_DEFAULT if none.
 * RL_CLS_F_PORTS is set if a candidate looked at had narrowing (the result
 * depends on the packet's protocol and port, not only its source).
 */
__noinline __u32 rl_classify(const struct rl_pkt *p)
{
	__u32 ports = 0;
	struct rl_match_set *set;
	__u32 i;

	if (!p)
		return RL_RULE_DEFAULT;
	if (p->family == 4) {
		struct rl_lpm4_key k = { .prefixlen = 32, .addr = p->saddr4 };

		set = bpf_map_lookup_elem(&rl_lpm4, &k);
		asm volatile("" : "+r"(set));   /* one map per call site, see RL_PER_FAMILY */
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
		if (m->flags & (RL_RULE_F_PROTO | RL_RULE_F_PORTS))
			ports = RL_CLS_F_PORTS;
		if ((m->flags & RL_RULE_F_PROTO) && m->proto != p->l4proto)
			continue;
		if ((m->flags & RL_RULE_F_PORTS) && (p->dport < m->port_lo || p->dport > m->port_hi))
			continue;
		if (m->rule_id < RL_MAX_RULES)
			return m->rule_id | ports;
	}
	return RL_RULE_DEFAULT | ports;
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
/* One tier's RL_TIER_* as the packet's RL_OUT_* so far; notes what it charged. */
static __always_inline int rl_tier_outcome(int v, __u32 t, struct rl_tier_args *a, __u32 *charged)
{
	if (v == RL_TIER_CONFORM)
		*charged |= 1u << t;
	if (v == RL_TIER_CONFORM || v == RL_TIER_UNADMITTED)
		return RL_OUT_PASS;
	a->refused_tier = t;
	return v == RL_TIER_BLOCKED ? RL_OUT_BLOCKED :
	       v == RL_TIER_EXCEED  ? RL_OUT_RATE :
	       v == RL_TIER_FULL    ? RL_OUT_STATE_FULL : RL_OUT_PASS;
}

static __always_inline int rl_limit(const struct rl_rule *r, struct rl_tier_args *a)
{
	__u32 n = r->n_tiers > RL_MAX_TIERS ? RL_MAX_TIERS : r->n_tiers;
	__u32 first = a->first_tier < n ? a->first_tier : 0;
	__u32 i, t, charged = 0, rid = a->rule_id;
	struct rl_admit_state *adm = NULL;
	int ret = RL_OUT_PASS;

	/* a->first_tier first, then the others in order: a source refused by an
	 * aggregate tier is refused again there without charging and refunding
	 * the tiers before it. Inlining the first tier of multi-tier rules too
	 * showed no gain beyond this VM's run-to-run noise (their refusals mostly
	 * come from the refusal cache's aggregate entries) and cost 56k more
	 * verified instructions. */
	if (n == 1) {   /* inlined: no call */
		a->tier = 0;
		ret = rl_tier_outcome(__rl_tier_take(a), 0, a, &charged);
	} else {
		for (i = 0; i < RL_MAX_TIERS; i++) {
			if (i >= n)
				break;
			t = i == 0 ? first : (i - 1 < first ? i - 1 : i);
			a->tier = t;
			ret = rl_tier_outcome(rl_tier_take(a), t, a, &charged);
			if (ret != RL_OUT_PASS)
				break;
		}
	}
	if (ret == RL_OUT_PASS && a->admit == RL_ADMIT_REFUSED) {
		/* unknown.algo NONE: no allowance (abi.h) */
		adm = bpf_map_lookup_elem(&rl_admit, &rid);
		if (!adm || a->unknown == RL_UNKNOWN_REFUSED ||
		    (a->unknown == RL_UNKNOWN_UNCHARGED &&
		     (r->unknown.algo == RL_ALGO_NONE ||
		      !rl_meter_take(&r->unknown, &adm->unknown, a->now_ns, a->bytes, NULL)))) {
			adm = NULL;
			ret = RL_OUT_UNKNOWN;
		}
	}
	if (ret == RL_OUT_PASS && r->has_global) {
		struct rl_state *g = bpf_map_lookup_elem(&rl_global, &rid);

		if (g && !rl_meter_take(&r->global, g, a->now_ns, a->bytes, NULL)) {
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

/*
 * 1 in 2^shift packets: a multiplicative (Fibonacci) hash of a per-packet tick
 * (the clock, or a per-CPU sequence number) and the source, whose top `shift`
 * bits are all zero with probability 2^-shift. No helper call
 * (bpf_get_prandom_u32) on the fast path.
 */
static __always_inline int rl_sampled(__u32 shift, __u64 tick, __u32 salt)
{
	__u64 h = (tick ^ salt) * 0x9E3779B97F4A7C15ull;

	if (!shift)
		return 0;
	return (h >> (64 - (shift > 31 ? 31 : shift))) == 0;
}

/*
 * Counts a sampled packet for `top` in rl_talkers (per-CPU LRU, exact source).
 * A global function: its stack is not part of the metering call chain.
 */
__noinline int rl_talk_sampled(const struct rl_tier_args *a, __u32 rule_id, __u32 drop)
{
	struct rl_talker_key k = {};
	struct rl_talker *t, fresh = {};

	if (!a)
		return 0;
	k.family = a->family;
	__builtin_memcpy(k.addr, a->src, 16);  /* IPv4: 4 bytes, then zeros */
	t = bpf_map_lookup_elem(&rl_talkers, &k);
	if (!t) {
		fresh.rule_id = rule_id;
		bpf_map_update_elem(&rl_talkers, &k, &fresh, BPF_NOEXIST);
		t = bpf_map_lookup_elem(&rl_talkers, &k);
		if (!t)
			return 0;
	}
	t->packets++;
	t->bytes += a->bytes;
	t->dropped += drop;
	t->rule_id = rule_id;
	return 0;
}

/* `tick` varies per packet: the clock, or a per-CPU sequence number. */
static __always_inline void rl_talk(__u32 shift, const struct rl_tier_args *a, __u64 tick,
				    __u64 k0, __u64 k1, __u32 rule_id, int drop)
{
	if (rl_sampled(shift, tick, (__u32)(k0 ^ k1)))
		rl_talk_sampled(a, rule_id, drop);
}

static __always_inline int rl_verdict(__u32 rule_id, __u32 reason, __u64 bytes, int drop)
{
	rl_count(rule_id, reason, bytes);
	return drop ? XDP_DROP : XDP_PASS;
}

/*
 * The reason and verdict for a packet that reached a limit rule, from the
 * outcome of rl_limit. Monitor (shadow) rules pass what they would have
 * dropped, under the shadow_* reason.
 */
static __always_inline __u32 rl_limit_reason(const struct rl_config *cfg, int out, int monitor,
					     int *drop)
{
	__u32 reason;

	switch (out) {
	case RL_OUT_PASS:
		*drop = 0;
		return RL_REASON_PASS;
	case RL_OUT_BLOCKED:
		*drop = 1;
		return RL_REASON_DROP_BLOCKED;
	case RL_OUT_STATE_FULL:
		*drop = cfg->state_full_verdict == RL_VERDICT_DROP;
		return RL_REASON_STATE_FULL;
	case RL_OUT_UNKNOWN:
		reason = monitor ? RL_REASON_SHADOW_UNKNOWN : RL_REASON_DROP_UNKNOWN;
		break;
	case RL_OUT_GLOBAL:
		reason = monitor ? RL_REASON_SHADOW_GLOBAL : RL_REASON_DROP_GLOBAL;
		break;
	default: /* RL_OUT_RATE: rl_tier_take raised LIMIT_START / blocked the key */
		reason = monitor ? RL_REASON_SHADOW_RATE : RL_REASON_DROP_RATE;
		break;
	}
	*drop = !monitor;
	return reason;
}

/*
 * Slot of a source in rl_dcache: Fibonacci hash of its address folded to 32
 * bits. The words hold the address in network order on a little-endian
 * machine: byte-swapped, the last bytes of an address, where neighbouring
 * sources differ, become the low bits and vary like a counter, which a
 * Fibonacci hash spreads evenly. Among 1,000 consecutive sources, slots are
 * shared by 2 (IPv4) and 4 (IPv6) of them, against 158 and 464 when the
 * words were only xor-ed; random sources share as with a random hash (~390).
 */
static __always_inline __u32 rl_dc_slot(__u64 k0, __u64 k1)
{
	__u64 h = __builtin_bswap64(k0) ^ __builtin_bswap64(k1);

	h = (__u32)(h ^ (h >> 32));
	return (__u32)((h * 0x9E3779B97F4A7C15ull) >> (64 - RL_DCACHE_BITS));
}

/*
 * The coarse clock (bpf_ktime_get_coarse_ns, no clocksource read) is at most
 * a tick or two behind bpf_ktime_get_ns on a CPU that is processing packets.
 * A refusal remembered until more than this after the coarse time is still
 * live without reading the precise clock; closer to its end the precise
 * clock decides. Were the coarse clock ever further behind, a source would
 * be refused that much longer: never admitted more.
 */
#define RL_COARSE_LAG_NS (20ull * 1000 * 1000)

/* The running kernel's tick rate (libbpf reads it from the kernel config); 0
 * if unknown, and then the jiffies bounds below are not used. */
extern unsigned int CONFIG_HZ __kconfig __weak;

/* Past this many ticks since the summary's precise reading, its jiffies
 * bounds are not used (nor can their products overflow). */
#define RL_JIFFIES_MAX_TICKS (1ull << 20)

/*
 * Bounds of bpf_ktime_get_ns() without a helper call: bpf_jiffies64() is
 * inlined by the verifier on 64-bit JITs (a load), while every clock helper
 * costs ~3 mispredicted returns under the SRSO "safe RET" mitigation. The
 * summary holds this CPU's last precise reading (addr[0]), the jiffies read
 * right after it (addr[1]) and ns per jiffy (generation). Elapsed time since
 * then is more than dj - 1 and less than dj + 2 ticks (the jiffies read may
 * trail the precise one by a tick). Hits still need RL_COARSE_LAG_NS of
 * margin: were jiffies ever late, a source would be refused longer, never
 * admitted more (as with the coarse clock).
 */
static __always_inline int rl_jiffies_now(const struct rl_dcache *sum, __u64 *lo, __u64 *hi)
{
	__u64 dj, tick = sum->generation;

	if (!tick || !sum->addr[1])
		return 0;
	dj = bpf_jiffies64() - sum->addr[1];
	if (dj > RL_JIFFIES_MAX_TICKS)
		return 0;
	*lo = sum->addr[0] + (dj ? dj - 1 : 0) * tick;
	*hi = sum->addr[0] + (dj + 2) * tick;
	return 1;
}

/* Does the refusal-cache entry hold this packet's source, for this configuration? */
static __always_inline int rl_dc_match(const struct rl_dcache *dc, __u32 gen,
				       const struct rl_pkt *p, __u64 k0, __u64 k1)
{
	return dc->addr[0] == k0 && dc->addr[1] == k1 &&
	       dc->family == p->family && dc->generation == gen &&
	       !(dc->flags & RL_DC_F_AGG) &&
	       (!(dc->flags & RL_DC_F_PORTS) ||
		(dc->l4proto == p->l4proto && dc->dport == p->dport));
}

/*
 * Aggregate entries (abi.h, RL_DC_F_AGG): the key of a tier whose prefix is
 * shorter than the address, as the two words of a refusal-cache address (the
 * source's layout). 0 for a tier keyed by the exact address.
 */
static __always_inline int rl_agg_key(const struct rl_meter *m, const struct rl_tier_args *a,
				      __u64 *k0, __u64 *k1, __u32 *plen)
{
	if (a->family == 4 ? m->prefix_v4 >= 32 : m->prefix_v6 >= 128)
		return 0;
	*plen = rl_tier_prefix(m, a, k0, k1);
	return 1;
}

/* An aggregate entry's slot: salted by rule and tier, so that it does not
 * share the slot of the source with the same address (say 198.18.0.0). */
static __always_inline __u32 rl_dc_agg_slot(__u64 k0, __u64 k1, __u32 rule_id, __u32 tier)
{
	return rl_dc_slot(k0, k1 ^ ((((__u64)rule_id << 8) | tier | (1ull << 32)) *
				    0xC2B2AE3D27D4EB4Full));
}

static __always_inline int rl_dc_agg_match(const struct rl_dcache *dc, __u32 gen, __u8 family,
					   __u64 k0, __u64 k1, __u32 plen, __u32 rule_id,
					   __u32 tier)
{
	return dc->addr[0] == k0 && dc->addr[1] == k1 && dc->family == family &&
	       dc->generation == gen && dc->rule_id == rule_id && dc->dport == plen &&
	       dc->flags == (RL_DC_F_AGG | RL_DC_TIER(tier));
}

/* A live aggregate entry of one of the rule's tiers that holds this source, or NULL. */
static __always_inline struct rl_dcache *rl_dc_agg_hit(__u32 gen,
						       const struct rl_rule *r,
						       const struct rl_tier_args *a, __u32 rule_id,
						       __u64 now_ns)
{
	__u32 n = r->n_tiers > RL_MAX_TIERS ? RL_MAX_TIERS : r->n_tiers;
	struct rl_dcache *dc;
	__u32 t, slot, plen;
	__u64 k0, k1;

	for (t = 0; t < RL_MAX_TIERS; t++) {
		if (t >= n)
			break;
		if (!rl_agg_key(&r->tiers[t], a, &k0, &k1, &plen))
			continue;
		slot = rl_dc_agg_slot(k0, k1, rule_id, t);
		dc = bpf_map_lookup_elem(&rl_dcache, &slot);
		if (dc && now_ns < dc->until_ns &&
		    rl_dc_agg_match(dc, gen, a->family, k0, k1, plen, rule_id, t))
			return dc;
	}
	return NULL;
}

/* The refusing tier keys a prefix: remember the refusal for all its sources. */
static __always_inline void rl_dc_agg_fill(__u32 gen, const struct rl_rule *r,
					   const struct rl_tier_args *a, __u32 rule_id, __u32 tier,
					   __u64 until_ns, __u32 reason)
{
	struct rl_dcache *dc;
	__u32 slot, plen;
	__u64 k0, k1;

	tier &= RL_MAX_TIERS - 1;
	if (!rl_agg_key(&r->tiers[tier], a, &k0, &k1, &plen))
		return;
	slot = rl_dc_agg_slot(k0, k1, rule_id, tier);
	dc = bpf_map_lookup_elem(&rl_dcache, &slot);
	if (!dc)
		return;
	dc->addr[0] = k0;
	dc->addr[1] = k1;
	dc->until_ns = until_ns;
	dc->generation = gen;
	dc->rule_id = rule_id;
	dc->family = a->family;
	dc->reason = reason;
	dc->dport = plen;   /* aggregate entries: the tier's prefix length */
	dc->l4proto = 0;
	dc->flags = RL_DC_F_AGG | RL_DC_TIER(tier);
}

static __always_inline void rl_dc_fill(struct rl_dcache *dc, __u32 gen,
				       const struct rl_pkt *p, __u64 k0, __u64 k1, __u64 until_ns,
				       __u32 cls, __u32 reason, __u32 tier)
{
	dc->addr[0] = k0;
	dc->addr[1] = k1;
	dc->until_ns = until_ns;
	dc->generation = gen;
	dc->rule_id = cls & ~RL_CLS_F_PORTS;
	dc->family = p->family;
	dc->reason = reason;
	dc->dport = p->dport;
	dc->l4proto = p->l4proto;
	dc->flags = ((cls & RL_CLS_F_PORTS) ? RL_DC_F_PORTS : 0) | RL_DC_TIER(tier);
}

SEC("xdp")
int rl_xdp(struct xdp_md *ctx)
{
	__u64 frame_bytes = ctx->data_end - ctx->data;
	struct rl_tier_args a = {};
	const struct rl_config *cfg;
	const struct rl_rule *rule;
	struct rl_pkt pkt = {};
	struct rl_dcache *dc = NULL, *dcsum = NULL, *agg;
	__u32 zero = 0, rule_id, reason, cls = RL_CLS_NONE, slot, sum = RL_DCACHE_SLOTS, gen;
	__u64 k0, k1, lo, hi, tick;
	int ret, drop, out, live;

	cfg = bpf_map_lookup_elem(&rl_cfg, &zero);
	if (!cfg)
		return XDP_PASS;
	/* read once, before classification: the daemon writes rules and LPM
	 * entries first and bumps the generation last, so a refusal-cache entry
	 * filled below never pairs a classification made from old maps with the
	 * new generation (an ended entry's rule id is reused as the source's
	 * classification for as long as the generation lasts) */
	gen = (__u32)*(volatile __u64 *)&cfg->generation;

	ret = rl_parse(ctx, &pkt);
	if (ret == RL_PARSE_NON_IP)
		return rl_verdict(RL_RULE_NONE, RL_REASON_NON_IP, frame_bytes, 0);
	if (ret != RL_PARSE_OK)
		return rl_verdict(RL_RULE_NONE, RL_REASON_MALFORMED, frame_bytes,
				  cfg->malformed_verdict == RL_VERDICT_DROP);

	a.bytes = (cfg->flags & RL_CFG_F_L2_BYTES) ? frame_bytes : pkt.l3_bytes;
	a.cfg_flags = cfg->flags;
	a.family = pkt.family;
	if (pkt.family == 4) {
		k0 = pkt.saddr4;
		k1 = 0;
	} else {
		k0 = pkt.saddr6w[0];
		k1 = pkt.saddr6w[1];
	}
	a.src[0] = k0;
	a.src[1] = k1;

	/* a source refused a moment ago is refused again, until its meter is ready */
	if (!(cfg->flags & RL_CFG_F_NO_DCACHE))
		dcsum = bpf_map_lookup_elem(&rl_dcache, &sum);
	if (dcsum && dcsum->addr[0] < dcsum->until_ns) {  /* else nothing is live */
		/* lo <= now <= hi (the coarse clock: lo = hi, RL_COARSE_LAG_NS
		 * behind at most); no live entry if lo >= the latest end.
		 * Refusals that end within RL_COARSE_LAG_NS need the precise clock
		 * anyway: a CPU whose last look at an entry needed it reads that
		 * clock first, and no other */
		if (dcsum->flags & RL_DCS_F_PRECISE)
			lo = hi = a.now_ns = bpf_ktime_get_ns();
		else if (!rl_jiffies_now(dcsum, &lo, &hi))
			lo = hi = bpf_ktime_get_coarse_ns();
		if (lo < dcsum->until_ns) {
			slot = rl_dc_slot(k0, k1);
			dc = bpf_map_lookup_elem(&rl_dcache, &slot);
		}
		if (dc && rl_dc_match(dc, gen, &pkt, k0, k1)) {
			live = hi + RL_COARSE_LAG_NS < dc->until_ns;
			if (live)
				dcsum->flags &= ~RL_DCS_F_PRECISE;
			else if (!a.now_ns) {
				a.now_ns = bpf_ktime_get_ns();
				dcsum->flags |= RL_DCS_F_PRECISE;
			}
			if (live || a.now_ns < dc->until_ns) {
				if (!a.now_ns)
					a.now_ns = lo;
				rule_id = dc->rule_id;
				reason = dc->reason;
				drop = reason == RL_REASON_DROP_RATE || reason == RL_REASON_DROP_BLOCKED;
				rl_gcount(RL_GC_DCACHE_HIT);
				if (rl_override_blocks(cfg, &pkt, a.now_ns)) {
					reason = RL_REASON_OVERRIDE_BLOCK;
					drop = 1;
				}
				tick = lo + ++dcsum->seq;
				goto verdict;
			}
			/* ended: its tier goes first, its rule is the source's */
			a.first_tier = RL_DC_TIER_OF(dc->flags);
			cls = dc->rule_id | ((dc->flags & RL_DC_F_PORTS) ? RL_CLS_F_PORTS : 0);
		}
	}
	if (!a.now_ns)
		a.now_ns = bpf_ktime_get_ns();
	tick = a.now_ns;
	if (dcsum) {
		dcsum->addr[0] = a.now_ns;
		dcsum->addr[1] = bpf_jiffies64();
		if (!dcsum->generation && CONFIG_HZ)
			dcsum->generation = RL_NSEC_PER_SEC / CONFIG_HZ;
	}

	/* no call when no CIDR prefix can hold the source: with the SRSO "safe
	 * RET" mitigation every return from a BPF function mispredicts */
	if (cls == RL_CLS_NONE)
		cls = rl_hint_no_prefix(&pkt, cfg->flags) ? RL_RULE_DEFAULT : rl_classify(&pkt);
	rule_id = cls & ~RL_CLS_F_PORTS;
	rule = bpf_map_lookup_elem(&rl_rules, &rule_id);
	if (!rule)
		return rl_verdict(RL_RULE_NONE, RL_REASON_ALLOW, a.bytes, 0);
	a.rule_id = rule_id;

	if (rl_override_blocks(cfg, &pkt, a.now_ns)) {
		reason = RL_REASON_OVERRIDE_BLOCK;
		drop = 1;
	} else if (rule->action == RL_ACT_LIMIT) {
		if (dcsum && rule->n_tiers > 1 && a.now_ns < dcsum->until_ns &&
		    (agg = rl_dc_agg_hit(gen, rule, &a, rule_id, a.now_ns))) {
			reason = agg->reason;
			drop = reason == RL_REASON_DROP_RATE || reason == RL_REASON_DROP_BLOCKED;
			rl_gcount(RL_GC_DCACHE_HIT);
			goto verdict;
		}
		a.on_exceed = rule->on_exceed;
		a.block_ns = rule->block_ns;
		out = rl_limit(rule, &a);
		reason = rl_limit_reason(cfg, out, rule->on_exceed == RL_EXCEED_MONITOR, &drop);
		if (dcsum && (out == RL_OUT_RATE || out == RL_OUT_BLOCKED) && a.ready_ns > a.now_ns) {
			if (!dc) {
				slot = rl_dc_slot(k0, k1);
				dc = bpf_map_lookup_elem(&rl_dcache, &slot);
			}
			if (dc) {
				rl_dc_fill(dc, gen, &pkt, k0, k1, a.ready_ns, cls, reason, a.refused_tier);
				if (dcsum->until_ns < a.ready_ns)
					dcsum->until_ns = a.ready_ns;
			}
			if (rule->n_tiers > 1)
				rl_dc_agg_fill(gen, rule, &a, rule_id, a.refused_tier, a.ready_ns, reason);
		}
	} else if (rule->action == RL_ACT_DENY) {
		reason = RL_REASON_DROP_DENY;
		drop = 1;
	} else { /* RL_ACT_ALLOW */
		reason = RL_REASON_ALLOW;
		drop = 0;
	}
verdict:
	/* one exit for every IP packet that reached a rule: sampled for `top`, counted */
	rl_talk(cfg->talker_shift, &a, tick, k0, k1, rule_id, drop);
	return rl_verdict(rule_id, reason, a.bytes, drop);
}
