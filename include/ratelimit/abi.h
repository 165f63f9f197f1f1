/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The ratelimit ABI: every struct, enum, flag, limit and map name shared by the
 * XDP program (bpf/) and user space (controller/, tests/). Nothing that crosses
 * the kernel/user boundary is defined anywhere else.
 *
 * Where a value lives:
 *   - load-time constants: `const volatile` rodata in bpf/ratelimit.bpf.c, set by
 *     the loader between open and load (see struct rl_rodata_doc below);
 *   - everything the daemon may change at run time (rules, limits, actions,
 *     verdicts for odd packets): maps, written by the daemon only.
 *
 * Time is bpf_ktime_get_ns() (CLOCK_MONOTONIC, ns since boot). Meter state keeps
 * virtual time in "q" units of 2^-RL_TIME_SHIFT ns, which wrap after 2^58 ns
 * (9.1 years) of uptime.
 */
#ifndef RATELIMIT_ABI_H
#define RATELIMIT_ABI_H

#include <linux/types.h>

#define RL_ABI_VERSION 2

/* ---- sizes and limits ---------------------------------------------------- */
#define RL_MAX_RULES 256            /* rule ids 0..RL_MAX_RULES-1 */
#define RL_RULE_DEFAULT 0           /* applies when no CIDR matches */
#define RL_RULE_NONE RL_MAX_RULES   /* counter slot for packets that reach no rule */
#define RL_MAX_TIERS 4              /* meters per rule that must all conform */
#define RL_MAX_MATCH 8              /* rule candidates stored per source prefix */
#define RL_LPM_MAX_ENTRIES 16384    /* CIDR prefixes per address family */
#define RL_STATE_DEFAULT_ENTRIES (1u << 20) /* tracked keys per family, resizable at load */
#define RL_BLOCK_DEFAULT_ENTRIES 65536      /* penalty-box entries per family */
#define RL_OVERRIDE_MAX_ENTRIES 65536       /* per-key overrides per family */
#define RL_RINGBUF_BYTES (256 * 1024)
#define RL_VLAN_MAX_DEPTH 2         /* 802.1Q + 802.1ad (QinQ) */
#define RL_IPV6_EXT_MAX 8           /* extension headers walked before giving up */
#define RL_CAS_RETRIES 8            /* compare-and-swap attempts per meter word */

#define RL_TIME_SHIFT 6             /* q units per ns = 64 */
#define RL_NSEC_PER_SEC 1000000000ull

/* ---- enums ----------------------------------------------------------------- */
enum rl_action {                    /* what a rule does with a matching packet */
	RL_ACT_ALLOW = 0,               /* pass, no metering (a zeroed rule slot) */
	RL_ACT_LIMIT = 1,               /* meter it */
	RL_ACT_DENY = 2,                /* always drop */
	RL_ACT__MAX
};

enum rl_on_exceed {                 /* what a limit rule does when a key exceeds */
	RL_EXCEED_DROP = 0,
	RL_EXCEED_BLOCK = 1,            /* drop, then drop everything from the key for block_ns */
	RL_EXCEED_MONITOR = 2,          /* shadow mode: count would-drop, pass */
	RL_EXCEED__MAX
};

enum rl_algo {
	RL_ALGO_NONE = 0,
	RL_ALGO_TOKEN_BUCKET = 1,       /* packets/s and/or bytes/s with burst */
	RL_ALGO_GCRA = 2,               /* leaky bucket as a meter, packets */
	RL_ALGO_SLIDING_WINDOW = 3,     /* weighted previous + current window count */
	RL_ALGO_FIXED_WINDOW = 4,
	RL_ALGO__MAX
};

enum rl_verdict {
	RL_VERDICT_PASS = 0,
	RL_VERDICT_DROP = 1,
	RL_VERDICT__MAX
};

/* Why a packet got its verdict. Counters are kept per rule and per reason. */
enum rl_reason {
	RL_REASON_PASS = 0,             /* limit rule, conformed */
	RL_REASON_ALLOW,                /* allow rule */
	RL_REASON_DROP_RATE,            /* a tier did not conform */
	RL_REASON_DROP_DENY,            /* deny rule */
	RL_REASON_DROP_BLOCKED,         /* key is in the penalty box */
	RL_REASON_DROP_GLOBAL,          /* rule's global ceiling exceeded */
	RL_REASON_SHADOW_RATE,          /* monitor: would have dropped (rate), passed */
	RL_REASON_SHADOW_GLOBAL,        /* monitor: would have dropped (ceiling), passed */
	RL_REASON_MALFORMED,            /* truncated/invalid header; verdict from rl_cfg */
	RL_REASON_NON_IP,               /* ARP, LLDP, ...: always passed */
	RL_REASON_STATE_FULL,           /* key state insert failed; verdict from rl_cfg */
	RL_REASON_OVERRIDE_BLOCK,       /* per-key override installed by the controller */
	RL_REASON_DROP_UNKNOWN,         /* refused admission, and the rule's unknown-sources
	                                   meter (rl_rule.unknown) did not conform */
	RL_REASON_SHADOW_UNKNOWN,       /* monitor: would have dropped (unknown), passed */
	RL_REASON__MAX
};

/* Global (not per-rule) counters, per CPU. */
enum rl_gcounter {
	RL_GC_KEY_INSERT = 0,           /* new key state created */
	RL_GC_KEY_INSERT_FAIL,          /* bpf_map_update_elem failed for a new key */
	RL_GC_BLOCK_INSERT,             /* penalty-box entries created */
	RL_GC_BLOCK_INSERT_FAIL,
	RL_GC_EVENT_SENT,
	RL_GC_EVENT_LOST,               /* ring buffer full */
	RL_GC_EVENT_SUPPRESSED,         /* dropped by the event rate limiter */
	RL_GC_CAS_EXHAUSTED,            /* RL_CAS_RETRIES exceeded: treated as non-conforming */
	RL_GC_ADMIT_REFUSED,            /* new-key admission refused (rl_rule.admit): no insert */
	RL_GC_KEY_INSERT_EMPTY,         /* of RL_GC_KEY_INSERT: started empty under pressure */
	RL_GC_DCACHE_HIT,               /* packets refused from the refusal cache (rl_dcache) */
	RL_GC__MAX
};

enum rl_event_type {
	RL_EV_LIMIT_START = 1,          /* key stopped conforming */
	RL_EV_LIMIT_END = 2,            /* previously limited key conformed again */
	RL_EV_BLOCK_START = 3,
	RL_EV_BLOCK_END = 4,            /* first packet after the block expired */
	RL_EV__MAX
};

/* rl_rule.flags */
#define RL_RULE_F_PROTO (1u << 0)   /* match only rl_match.proto */
#define RL_RULE_F_PORTS (1u << 1)   /* match only dport in [port_lo, port_hi] */

/* rl_meter.flags (token bucket dimensions) */
#define RL_METER_F_PKTS (1u << 0)
#define RL_METER_F_BYTES (1u << 1)

/* rl_config.flags */
#define RL_CFG_F_L2_BYTES (1u << 0)   /* count bytes from the Ethernet header, not IP */
#define RL_CFG_F_OVERRIDES (1u << 1)  /* rl_ovr4/rl_ovr6 hold entries: look them up */
#define RL_CFG_F_NEW_EMPTY (1u << 2)  /* new keys start with an empty bucket */
/* New keys start empty while their rule's admission meter is under pressure:
 * a key admitted when less than half of rl_rule.admit's burst is left (after
 * its own admission) starts like RL_CFG_F_NEW_EMPTY. So a key evicted by a
 * flood before it refilled cannot come back with a full bucket while the flood
 * lasts, and a quiet table still gives new clients their burst. No effect on
 * rules without an admission meter. See "Admission control" below. */
#define RL_CFG_F_NEW_EMPTY_PRESSURE (1u << 3)
#define RL_CFG_F_NO_DCACHE (1u << 4)  /* do not use the refusal cache (rl_dcache) */
#define RL_CFG_F_HINT4 (1u << 5)      /* rl_lpmhint's IPv4 bitmap is valid: use it */
#define RL_CFG_F_HINT6 (1u << 6)      /* rl_lpmhint's IPv6 bitmaps are valid: use them */
/* rl_block4/6 may hold entries (a rule blocks, or did and its blocks remain):
 * a key without state looks its penalty box up only while this is set */
#define RL_CFG_F_BLOCKS (1u << 7)

/* rl_state.flags */
#define RL_ST_F_LIMITED (1u << 0)     /* last packet did not conform (event edge) */
#define RL_ST_F_BLOCKED (1u << 1)     /* a penalty-box entry exists for this key */

/* ---- meter parameters (derived by user space, see bpf/lib/) ----------------- */
/*
 * One meter. Virtual-time form: every meter dimension keeps a theoretical
 * arrival time (TAT) in q units; a packet of cost c conforms iff
 * max(TAT, now) + c*T <= now + limit. See bpf/lib/token_bucket.h and gcra.h.
 */
struct rl_meter {
	__u8 algo;                  /* enum rl_algo */
	__u8 flags;                 /* RL_METER_F_* (token bucket) */
	__u8 prefix_v4;             /* key prefix length for this tier, 0..32 */
	__u8 prefix_v6;             /* 0..128 */
	__u32 _pad0;
	/* token bucket, per dimension [0]=packets [1]=bytes; GCRA uses [0] only */
	__u64 t_q16[2];             /* q units per packet/byte, <<16 fixed point */
	__u64 limit_q[2];           /* burst window: burst*T (TB) or tau+T (GCRA), q units */
	/* windows */
	__u64 window_ns;
	__u64 window_limit;         /* packets per window */
};

/*
 * Admission control for new keys (spoofed floods). Per-key state only helps
 * against sources that come back; a flood with one packet per random source
 * makes every packet an LRU insert that evicts a real client. So a rule may
 * meter the creation of state:
 *   - a packet whose key (any tier) is in the state map is metered as always
 *     and is never charged to admit/unknown;
 *   - a packet that needs a new key is first charged to `admit`, one per
 *     packet (however many of its tiers are new). If it conforms, the missing
 *     keys are inserted and the packet is metered by its tiers as always;
 *   - if not (RL_GC_ADMIT_REFUSED), nothing is inserted: the tiers that do have
 *     a key are still charged (a /24 tier still sees every /32 in it) and the
 *     packet is charged to the shared `unknown` meter instead of its missing
 *     tiers. It passes if that conforms, else drops as RL_REASON_DROP_UNKNOWN
 *     (RL_REASON_SHADOW_UNKNOWN and passed in monitor mode).
 *   - the global ceiling applies after all of that, to every packet.
 * admit.algo == RL_ALGO_NONE disables admission control (every new key is
 * inserted: the behaviour before this field existed, and a zeroed rule).
 * With admission on, unknown.algo == RL_ALGO_NONE is a zero allowance: every
 * refused packet drops. Both meters are shared by all CPUs (rl_admit, one
 * word per dimension, compare-and-swap: exact like the global ceiling).
 * admit counts packets that need new state (keys/s + burst): give it a packet
 * meter (GCRA or packet token bucket); a byte dimension would be charged the
 * packet's bytes. unknown may be any meter. State lives in rl_admit[rule_id],
 * zeroed (full burst) when the daemon (re)writes the rule.
 */
/* A rule: what the fast path needs to act on a match. Indexed by rule id. */
struct rl_rule {
	__u8 action;                /* enum rl_action */
	__u8 on_exceed;             /* enum rl_on_exceed */
	__u8 n_tiers;               /* 0..RL_MAX_TIERS (limit rules need >= 1) */
	__u8 has_global;            /* global ceiling meter present */
	__u32 generation;           /* bumped when meters change incompatibly */
	__u64 block_ns;             /* RL_EXCEED_BLOCK duration */
	struct rl_meter tiers[RL_MAX_TIERS];
	struct rl_meter global;     /* packets; GCRA or token bucket over all keys */
	struct rl_meter admit;      /* new keys admitted per rule; RL_ALGO_NONE = off */
	struct rl_meter unknown;    /* allowance shared by packets refused admission */
};

/* A candidate rule at one source prefix, narrowed by protocol and port. */
struct rl_match {
	__u16 rule_id;
	__u8 flags;                 /* RL_RULE_F_PROTO | RL_RULE_F_PORTS */
	__u8 proto;                 /* IPPROTO_* */
	__u16 port_lo;              /* host order, inclusive */
	__u16 port_hi;
};

/*
 * Value of rl_lpm4/rl_lpm6: candidates in precedence order, first match wins.
 * User space flattens inheritance: a prefix's list ends with the candidates of
 * the nearest covering prefix, so the fast path needs exactly one LPM lookup.
 */
struct rl_match_set {
	__u32 count;                /* 0..RL_MAX_MATCH */
	__u32 _pad0;
	struct rl_match m[RL_MAX_MATCH];
};

struct rl_lpm4_key {
	__u32 prefixlen;
	__be32 addr;
};

struct rl_lpm6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/*
 * LPM hint (rl_lpmhint, array of __u64 bitmap words; bpf/lib/lpm_hint.h): a
 * superset of the source buckets any CIDR rule can match. A source whose bit
 * is clear takes the default rule without an LPM lookup. Buckets: IPv4, the
 * top 16 bits (exact); IPv6, a hash of the top 48 bits (prefixes /48 and
 * longer) and a hash of the top 32 bits (prefixes /RL_HINT6_MIN_PLEN to /47).
 * A family's hint is used only while RL_CFG_F_HINT4/6 is set (user space clears
 * it when a prefix is too short to summarise). Updates: user space writes the
 * union of old and new bits before it changes rl_lpm4/6, the new bits after
 * rl_config; so a prefix in rl_lpm4/6 always has its bit set.
 */
#define RL_HINT_BITS 16             /* bits per family bitmap index */
#define RL_HINT_WORDS (1u << (RL_HINT_BITS - 6))   /* __u64 words per bitmap */
#define RL_HINT_V4 0                /* first word of each bitmap */
#define RL_HINT_V6_48 RL_HINT_WORDS
#define RL_HINT_V6_32 (2 * RL_HINT_WORDS)
#define RL_HINT_ENTRIES (3 * RL_HINT_WORDS)
#define RL_HINT6_MIN_PLEN 20        /* shorter IPv6 prefixes turn the IPv6 hint off */

/* ---- per-key state ---------------------------------------------------------- */
struct rl_key4 {
	__be32 addr;                /* masked to prefix_len */
	__u16 rule_id;
	__u8 tier;
	__u8 prefix_len;
};

struct rl_key6 {
	__u8 addr[16];              /* masked to prefix_len */
	__u16 rule_id;
	__u8 tier;
	__u8 prefix_len;
	__u32 _pad0;
};

/*
 * Meter state of one key. w[] by algorithm:
 *   token bucket:   w[0] = TAT packets (q), w[1] = TAT bytes (q)
 *   GCRA:           w[0] = TAT (q),         w[1] = unused
 *   windows:        w[0] = window start (ns), w[1] = cur | prev << 32
 * Each word is updated with compare-and-swap or atomic add, never a lock.
 */
struct rl_state {
	__u64 w[2];
	__u32 seen;                 /* last packet, ns >> RL_SEEN_SHIFT (wraps in 52 days) */
	__u32 meta;                 /* RL_ST_F_* flags | algo << 8 | generation << 16;
	                               flags change with atomic or/and only */
};
#define RL_ST_FLAGS_MASK 0xffu
#define RL_ST_META(algo, gen) (((__u32)(algo) << 8) | ((__u32)(__u16)(gen) << 16))
#define RL_ST_ALGO(meta) (((meta) >> 8) & 0xffu)
#define RL_ST_GEN(meta) ((__u16)((meta) >> 16))
#define RL_SEEN_SHIFT 20

/* Admission state per rule (rl_admit[rule_id]); written by the fast path,
 * zeroed by the daemon when it writes the rule (zero = full bursts). */
struct rl_admit_state {
	struct rl_state admit;      /* meter state of rl_rule.admit */
	struct rl_state unknown;    /* meter state of rl_rule.unknown */
};

/* Penalty box (rl_block4/6, keyed by rl_key4/6): drop until this time. */
struct rl_block {
	__u64 until_ns;
	__u64 since_ns;
};

/* Rule names by id (rl_rulemeta), pinned so that a restarted daemon keeps ids
 * stable; never read by the fast path. Written by the daemon. */
#define RL_RULE_NAME_MAX 48
struct rl_rule_meta {
	char name[RL_RULE_NAME_MAX]; /* NUL-terminated; empty = free slot */
	__u64 generation;            /* full generation (rl_rule.generation is its low bits) */
	__u64 created_ns;
};

/* Per-key override (rl_ovr4/6), keyed by exact address; installed by a controller. */
struct rl_override {
	__u64 block_until_ns;       /* 0 = none; ~0 = forever */
	__u32 flags;                /* reserved for reduced shares */
	__u32 share_permille;       /* reserved: fraction of the rule's rate */
};

/* Run-time configuration, rl_cfg[0], written by the daemon. */
struct rl_config {
	__u32 abi_version;          /* RL_ABI_VERSION of the daemon that wrote it */
	__u32 flags;                /* RL_CFG_F_* */
	__u8 malformed_verdict;     /* enum rl_verdict for RL_REASON_MALFORMED */
	__u8 state_full_verdict;    /* enum rl_verdict for RL_REASON_STATE_FULL */
	__u8 talker_shift;          /* sample 1 in 2^n IP packets into rl_talkers; 0 = off */
	__u8 _pad0;
	__u32 event_rate;           /* events per second, all CPUs together */
	__u32 event_burst;
	__u32 _pad1;
	__u64 generation;           /* configuration generation, for status */
};

/* Per-CPU counter cell: rl_stats[rule * RL_REASON__MAX + reason]. */
struct rl_counter {
	__u64 packets;
	__u64 bytes;
};
#define RL_STATS_ENTRIES ((RL_MAX_RULES + 1) * RL_REASON__MAX)

/* Top talkers, sampled (rl_talkers, per-CPU LRU): counts are of sampled packets,
 * multiply by 2^talker_shift. Keyed by the exact source address. */
struct rl_talker_key {
	__u8 addr[16];              /* IPv4 in the first 4 bytes */
	__u8 family;                /* 4 or 6 */
	__u8 _pad0[3];
};

struct rl_talker {
	__u64 packets;
	__u64 bytes;
	__u64 dropped;
	__u32 rule_id;              /* rule of the last sampled packet */
	__u32 _pad0;
};
#define RL_TALKERS_ENTRIES 8192

/*
 * Refusal cache (rl_dcache, per-CPU array of RL_DCACHE_SLOTS, direct-mapped by
 * a hash of the exact source). When a tier refuses a packet (rate, or an active
 * penalty box), the source's verdict is remembered until the earliest time the
 * refusing meter could accept a packet of that source again (for a block: its
 * end). Until then that source's packets on this CPU get the same verdict and
 * reason without classification, state lookup or meter: a flood from sources
 * over their limit costs about 1.3-1.5x a bare XDP_DROP per packet.
 *   - Never over-admits: it only repeats a refusal the meter would repeat. A
 *     refund that races the refusal (another tier or the ceiling rejected a
 *     packet this tier had accepted) may make the meter ready a little earlier
 *     than remembered: under-admission by at most that packet, like the CAS
 *     notes in bpf/lib/meter.bpf.h.
 *   - Valid for one configuration: an entry holds the low 32 bits of
 *     rl_config.generation, which the daemon bumps on every change.
 *   - Classification that depended on protocol/port narrowing is remembered
 *     with the packet's protocol and destination port, and only reused for them.
 *   - Override blocks (rl_ovr4/6) are still looked up first.
 *   - Not state: never pinned, lost on restart. RL_CFG_F_NO_DCACHE turns it off.
 *   - rl_dcache[RL_DCACHE_SLOTS] (one past the slots) is this CPU's summary:
 *     its until_ns is the latest until_ns ever filled on this CPU, and its
 *     addr[0] the latest bpf_ktime_get_ns() this CPU read on the full path (a
 *     lower bound of now). Once that passed until_ns, nothing can be live: a
 *     CPU that refused nothing lately reads no clock and no slot for it.
 *   - An entry that has ended still says which tier refused: that tier is
 *     metered first for the source's next packet (rl_limit). Its rule id
 *     also stands for the source's classification (same generation, and
 *     same protocol/port where narrowing mattered): no LPM lookup.
 *   - Aggregate entries (RL_DC_F_AGG): a tier keyed by a prefix shorter than
 *     the address (say /24 of a two-tier rule) refuses every source of that
 *     prefix alike, so its refusal is remembered once more under the tier's
 *     key (masked address, prefix length in dport, rule, tier), in a slot of
 *     its own. After classification, a packet of a multi-tier rule whose own
 *     entry missed or ended looks up the entries of the rule's aggregate
 *     tiers: a hit is the aggregate's verdict and reason without state lookup
 *     or meter, for every source of the prefix. They read the precise clock
 *     (such refusals are short: the aggregate's next token).
 *     Such a packet would be refused whatever its own tiers said, so it
 *     creates no key and is not charged to admission control (rl_rule.admit)
 *     either; nor are its own tiers looked at: a source whose own tier is also
 *     spent starts that tier's LIMIT_START or penalty box when the aggregate
 *     lets it through to its own tier, not before.
 *   - A hit reads no clock while the entry ends more than RL_COARSE_LAG_NS
 *     (bpf/ratelimit.bpf.c) after an upper bound of now from jiffies: the
 *     summary's addr[1] holds the jiffies read right after addr[0], its
 *     generation the ns per jiffy (rl_jiffies_now). Without CONFIG_HZ it
 *     reads the coarse clock instead. The summary's RL_DCS_F_PRECISE says the
 *     last entry this CPU matched ended sooner (so needed bpf_ktime_get_ns
 *     too): it then reads that clock only.
 * 2048 slots: 80 KiB per CPU, sized to stay in a core's L2 cache.
 */
#define RL_DCACHE_BITS 11
#define RL_DCACHE_SLOTS (1u << RL_DCACHE_BITS)
#define RL_DC_F_PORTS (1u << 0)     /* match l4proto and dport too */
#define RL_DC_F_AGG (1u << 1)       /* an aggregate tier's entry: addr is the tier's masked address */
#define RL_DCS_F_PRECISE (1u << 0)  /* summary slot: read bpf_ktime_get_ns first */
#define RL_DC_TIER(t) (((t) & 3u) << 4)         /* the tier that refused, in flags */
#define RL_DC_TIER_OF(flags) (((flags) >> 4) & 3u)

struct rl_dcache {
	__u64 addr[2];              /* exact source (RL_DC_F_AGG: the tier's masked address);
	                               IPv4 in the low 32 bits of addr[0] */
	__u64 until_ns;             /* refused while now < until_ns; 0 = empty */
	__u32 generation;           /* low 32 bits of rl_config.generation */
	__u16 rule_id;
	__u8 family;                /* 4 or 6 */
	__u8 reason;                /* enum rl_reason counted for a cached refusal */
	__u16 dport;                /* with RL_DC_F_PORTS */
	__u8 l4proto;               /* with RL_DC_F_PORTS */
	__u8 flags;                 /* RL_DC_F_* */
	__u32 seq;                  /* summary slot only: cache hits on this CPU (talker sampling) */
};

/*
 * Known-key filter (rl_known, one BPF_F_MMAPABLE array value; bpf/lib/known.h):
 * a one-hash Bloom filter of the state keys (rl_state4/6). A key whose bit is
 * clear in the active half has no state: the fast path skips the state lookup
 * (a hash-table miss, i.e. cache misses on a table of 1M buckets) and goes
 * straight to admission and insert. A spoofed flood refused by admission
 * control then costs no hash-table access at all. Set bits of evicted keys are
 * only false positives (a lookup that misses, as without the filter).
 *   - The fast path sets a new key's bit in both halves after inserting it.
 *   - User space rebuilds the inactive half: zeroes it, sets the bits of every
 *     key a full walk of rl_state4/6 finds, then makes it active. A key that
 *     existed when the walk started is walked; one inserted after the zeroing
 *     set its own bit: no key present at the flip lacks its bit.
 *   - active == 0 (a fresh map, not yet built from the state tables): not
 *     used. Not state: never pinned; a restarted daemon builds it again.
 */
#define RL_KNOWN_BITS 21                      /* bits per half: 256 KiB */
#define RL_KNOWN_WORDS (1u << (RL_KNOWN_BITS - 6))
struct rl_known {
	__u64 active;               /* 0: not built; else 1 + the half the fast path reads */
	__u64 _pad0[7];             /* keeps the words off active's cache line */
	__u64 words[2][RL_KNOWN_WORDS];
};

/* Per-CPU event limiter (rl_evlim[0]): virtual-time token bucket. */
struct rl_evlim {
	__u64 tat_q;
};

struct rl_event {
	__u64 ts_ns;
	__u64 until_ns;             /* BLOCK_START: when the block ends */
	__u16 rule_id;
	__u8 type;                  /* enum rl_event_type */
	__u8 family;                /* 4 or 6 */
	__u8 tier;
	__u8 prefix_len;
	__u8 reason;                /* enum rl_reason that triggered it */
	__u8 _pad0;
	__u8 addr[16];
};

/* Map names as the kernel shows them (<= 15 characters). */
#define RL_MAP_CFG "rl_cfg"
#define RL_MAP_RULES "rl_rules"
#define RL_MAP_LPM4 "rl_lpm4"
#define RL_MAP_LPM6 "rl_lpm6"
#define RL_MAP_STATE4 "rl_state4"
#define RL_MAP_STATE6 "rl_state6"
#define RL_MAP_BLOCK4 "rl_block4"
#define RL_MAP_BLOCK6 "rl_block6"
#define RL_MAP_OVR4 "rl_ovr4"
#define RL_MAP_OVR6 "rl_ovr6"
#define RL_MAP_GLOBAL "rl_global"
#define RL_MAP_STATS "rl_stats"
#define RL_MAP_GSTATS "rl_gstats"
#define RL_MAP_EVENTS "rl_events"
#define RL_MAP_EVLIM "rl_evlim"
#define RL_MAP_TALKERS "rl_talkers"
#define RL_MAP_RULEMETA "rl_rulemeta"
#define RL_MAP_ADMIT "rl_admit"
#define RL_MAP_DCACHE "rl_dcache"
#define RL_MAP_LPMHINT "rl_lpmhint"
#define RL_MAP_KNOWN "rl_known"

/* Names used by the exporter and CLI; tables asserted to have __MAX entries. */
#define RL_REASON_NAMES                                                         \
	{ "pass", "allow", "rate", "deny", "blocked", "global", "shadow_rate",      \
	  "shadow_global", "malformed", "non_ip", "state_full", "override_block",    \
	  "unknown", "shadow_unknown" }
#define RL_GCOUNTER_NAMES                                                       \
	{ "key_insert", "key_insert_fail", "block_insert", "block_insert_fail",     \
	  "event_sent", "event_lost", "event_suppressed", "cas_exhausted",          \
	  "admit_refused", "key_insert_empty", "dcache_hit" }

/* ---- layout assertions ------------------------------------------------------ */
#ifdef __cplusplus
#define RL_STATIC_ASSERT static_assert
#else
#define RL_STATIC_ASSERT _Static_assert
#endif
RL_STATIC_ASSERT(sizeof(struct rl_meter) == 56, "rl_meter layout");
RL_STATIC_ASSERT(sizeof(struct rl_rule) == 16 + 7 * 56, "rl_rule layout");
RL_STATIC_ASSERT(sizeof(struct rl_admit_state) == 48, "rl_admit_state layout");
RL_STATIC_ASSERT(sizeof(struct rl_match) == 8, "rl_match layout");
RL_STATIC_ASSERT(sizeof(struct rl_match_set) == 8 + 8 * RL_MAX_MATCH, "rl_match_set layout");
RL_STATIC_ASSERT(sizeof(struct rl_lpm4_key) == 8, "rl_lpm4_key layout");
RL_STATIC_ASSERT(sizeof(struct rl_lpm6_key) == 20, "rl_lpm6_key layout");
RL_STATIC_ASSERT(sizeof(struct rl_key4) == 8, "rl_key4 layout");
RL_STATIC_ASSERT(sizeof(struct rl_key6) == 24, "rl_key6 layout");
RL_STATIC_ASSERT(sizeof(struct rl_state) == 24, "rl_state layout");
RL_STATIC_ASSERT(sizeof(struct rl_block) == 16, "rl_block layout");
RL_STATIC_ASSERT(sizeof(struct rl_override) == 16, "rl_override layout");
RL_STATIC_ASSERT(sizeof(struct rl_rule_meta) == 64, "rl_rule_meta layout");
RL_STATIC_ASSERT(sizeof(struct rl_config) == 32, "rl_config layout");
RL_STATIC_ASSERT(sizeof(struct rl_counter) == 16, "rl_counter layout");
RL_STATIC_ASSERT(sizeof(struct rl_event) == 40, "rl_event layout");
RL_STATIC_ASSERT(sizeof(struct rl_talker_key) == 20, "rl_talker_key layout");
RL_STATIC_ASSERT(sizeof(struct rl_talker) == 32, "rl_talker layout");
RL_STATIC_ASSERT(sizeof(struct rl_dcache) == 40, "rl_dcache layout");

#endif /* RATELIMIT_ABI_H */
