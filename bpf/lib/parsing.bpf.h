/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing with one cursor. Every helper checks bounds before it reads and
 * returns 0 or RL_PARSE_* on a header it cannot trust.
 *
 * Verdicts (see README "Odd packets"):
 *   - not IPv4/IPv6 after at most RL_VLAN_MAX_DEPTH tags: RL_PARSE_NON_IP (pass);
 *   - truncated or invalid Ethernet/VLAN/IP/extension/L4 header, more VLAN tags
 *     than RL_VLAN_MAX_DEPTH, more IPv6 extension headers than RL_IPV6_EXT_MAX:
 *     RL_PARSE_MALFORMED (verdict from rl_cfg, default drop).
 * Non-first fragments carry no L4 header: they are metered by source with
 * dport 0. Protocols other than TCP/UDP/ICMP/ICMPv6 are metered with dport 0.
 */
#ifndef RL_PARSING_BPF_H
#define RL_PARSING_BPF_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "ratelimit/abi.h"

#define RL_PARSE_OK 0
#define RL_PARSE_NON_IP 1
#define RL_PARSE_MALFORMED 2

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif
#define RL_IPV4_FRAG_OFFSET_MASK 0x1FFF
#define RL_IPV6_FRAG_OFFSET_MASK 0xFFF8
#define RL_IPPROTO_ICMPV6 58

struct rl_cursor {
	void *pos;
	void *end;
};

/* What the rest of the pipeline needs to know about a packet. */
struct rl_pkt {
	__u8 family;       /* 4 or 6 */
	__u8 l4proto;
	__u16 dport;       /* host order; 0 when absent */
	__u32 l3_bytes;    /* IP total length */
	__be32 saddr4;
	union {             /* the words: loaded whole by the caller (no store-forwarding stall) */
		__u8 saddr6[16];
		__u64 saddr6w[2];
	};
};

struct rl_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

struct rl_ipv6_opt_hdr {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct rl_ipv6_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 identification;
};

/* Ethernet plus up to RL_VLAN_MAX_DEPTH tags; *proto is the inner ethertype (network order). */
static __always_inline int rl_parse_eth(struct rl_cursor *c, __be16 *proto)
{
	struct ethhdr *eth = c->pos;
	int i;

	if ((void *)(eth + 1) > c->end)
		return RL_PARSE_MALFORMED;
	*proto = eth->h_proto;
	c->pos = eth + 1;

	for (i = 0; i < RL_VLAN_MAX_DEPTH; i++) {
		struct rl_vlan_hdr *vh = c->pos;

		if (*proto != bpf_htons(ETH_P_8021Q) && *proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(vh + 1) > c->end)
			return RL_PARSE_MALFORMED;
		*proto = vh->encap_proto;
		c->pos = vh + 1;
	}
	if (*proto == bpf_htons(ETH_P_8021Q) || *proto == bpf_htons(ETH_P_8021AD))
		return RL_PARSE_MALFORMED; /* deeper than RL_VLAN_MAX_DEPTH */
	return RL_PARSE_OK;
}

/* Destination port (or ICMP presence) at the cursor for TCP/UDP/ICMP. */
static __always_inline int rl_parse_l4(struct rl_cursor *c, struct rl_pkt *p)
{
	switch (p->l4proto) {
	case IPPROTO_TCP: {
		struct tcphdr *th = c->pos;

		if ((void *)(th + 1) > c->end || th->doff < 5)
			return RL_PARSE_MALFORMED;
		p->dport = bpf_ntohs(th->dest);
		return RL_PARSE_OK;
	}
	case IPPROTO_UDP: {
		struct udphdr *uh = c->pos;

		if ((void *)(uh + 1) > c->end)
			return RL_PARSE_MALFORMED;
		p->dport = bpf_ntohs(uh->dest);
		return RL_PARSE_OK;
	}
	case IPPROTO_ICMP:
	case RL_IPPROTO_ICMPV6:
		/* type, code, checksum */
		if (c->pos + 4 > c->end)
			return RL_PARSE_MALFORMED;
		return RL_PARSE_OK;
	default:
		return RL_PARSE_OK;
	}
}

static __always_inline int rl_parse_ipv4(struct rl_cursor *c, struct rl_pkt *p)
{
	struct iphdr *iph = c->pos;
	__u32 hdr_len, tot_len;

	if ((void *)(iph + 1) > c->end)
		return RL_PARSE_MALFORMED;
	if (iph->version != 4 || iph->ihl < 5)
		return RL_PARSE_MALFORMED;
	hdr_len = iph->ihl * 4;
	tot_len = bpf_ntohs(iph->tot_len);
	if (tot_len < hdr_len || c->pos + tot_len > c->end)
		return RL_PARSE_MALFORMED;
	if (c->pos + hdr_len > c->end)
		return RL_PARSE_MALFORMED;

	p->family = 4;
	p->saddr4 = iph->saddr;
	p->l4proto = iph->protocol;
	p->l3_bytes = tot_len;
	c->pos += hdr_len;
	if (bpf_ntohs(iph->frag_off) & RL_IPV4_FRAG_OFFSET_MASK)
		return RL_PARSE_OK; /* non-first fragment: no L4 header */
	return rl_parse_l4(c, p);
}

static __always_inline int rl_parse_ipv6(struct rl_cursor *c, struct rl_pkt *p)
{
	struct ipv6hdr *ip6h = c->pos;
	__u32 payload;
	__u8 nexthdr;
	int i;

	if ((void *)(ip6h + 1) > c->end)
		return RL_PARSE_MALFORMED;
	if (ip6h->version != 6)
		return RL_PARSE_MALFORMED;
	payload = bpf_ntohs(ip6h->payload_len);
	if (payload == 0 && ip6h->nexthdr == IPPROTO_HOPOPTS)
		payload = c->end - (void *)(ip6h + 1); /* jumbogram: length in hop-by-hop */
	if ((void *)(ip6h + 1) + payload > c->end)
		return RL_PARSE_MALFORMED;

	p->family = 6;
	/* stored as whole words, from 32-bit loads (packet data is only
	 * 2-byte aligned after a 14-byte Ethernet header) */
	p->saddr6w[0] = ip6h->saddr.in6_u.u6_addr32[0] |
			(__u64)ip6h->saddr.in6_u.u6_addr32[1] << 32;
	p->saddr6w[1] = ip6h->saddr.in6_u.u6_addr32[2] |
			(__u64)ip6h->saddr.in6_u.u6_addr32[3] << 32;
	p->l3_bytes = sizeof(*ip6h) + payload;
	nexthdr = ip6h->nexthdr;
	c->pos = ip6h + 1;

	/* RL_IPV6_EXT_MAX headers are walked; the pass after them may only find L4 */
	for (i = 0; i <= RL_IPV6_EXT_MAX; i++) {
		struct rl_ipv6_opt_hdr *oh = c->pos;
		__u32 len;

		switch (nexthdr) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if ((void *)(oh + 1) > c->end)
				return RL_PARSE_MALFORMED;
			len = ((__u32)oh->hdrlen + 1) * 8;
			break;
		case IPPROTO_AH:
			if ((void *)(oh + 1) > c->end)
				return RL_PARSE_MALFORMED;
			len = ((__u32)oh->hdrlen + 2) * 4;
			break;
		case IPPROTO_FRAGMENT: {
			struct rl_ipv6_frag_hdr *fh = c->pos;

			if ((void *)(fh + 1) > c->end)
				return RL_PARSE_MALFORMED;
			if (bpf_ntohs(fh->frag_off) & RL_IPV6_FRAG_OFFSET_MASK) {
				p->l4proto = fh->nexthdr;
				return RL_PARSE_OK; /* non-first fragment: no L4 header */
			}
			len = sizeof(*fh);
			break;
		}
		default:
			p->l4proto = nexthdr;
			return rl_parse_l4(c, p);
		}
		if (i >= RL_IPV6_EXT_MAX)
			return RL_PARSE_MALFORMED; /* chain longer than RL_IPV6_EXT_MAX */
		if (c->pos + len > c->end)
			return RL_PARSE_MALFORMED;
		nexthdr = oh->nexthdr;
		c->pos += len;
	}
	return RL_PARSE_MALFORMED; /* not reached: the last pass returns */
}

/* Returns RL_PARSE_OK with *p filled for IPv4/IPv6, else NON_IP or MALFORMED. */
static __always_inline int rl_parse(struct xdp_md *ctx, struct rl_pkt *p)
{
	struct rl_cursor c = {
		.pos = (void *)(long)ctx->data,
		.end = (void *)(long)ctx->data_end,
	};
	__be16 proto;
	int ret;

	ret = rl_parse_eth(&c, &proto);
	if (ret)
		return ret;
	if (proto == bpf_htons(ETH_P_IP))
		return rl_parse_ipv4(&c, p);
	if (proto == bpf_htons(ETH_P_IPV6))
		return rl_parse_ipv6(&c, p);
	return RL_PARSE_NON_IP;
}

#endif
