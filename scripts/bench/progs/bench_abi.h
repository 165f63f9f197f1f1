/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Shared by the benchmark driver/generator programs and tests/bench/rl_bench. */
#ifndef RL_BENCH_ABI_H
#define RL_BENCH_ABI_H

#include <linux/types.h>

/* Source addresses: packet i gets base + (i mod n_sources) in the last 32 bits
 * of the source address (IPv4: the whole address; IPv6: bytes 12..15). */
struct bench_src {
	__u32 n_sources;
	__u32 base;                 /* host order */
};

#define BENCH_ETH_LEN 14
#define BENCH_V4_SADDR_OFF (BENCH_ETH_LEN + 12)
#define BENCH_V6_SADDR_LO_OFF (BENCH_ETH_LEN + 8 + 12)

#ifdef __BPF__
/* One's-complement checksum update for a 32-bit field changing from `from` to
 * `to` (RFC 1624); byte order does not matter as long as it is consistent. */
static __always_inline __u16 bench_csum_replace4(__u16 check, __be32 from, __be32 to)
{
	__u32 sum = (__u16)~check;

	sum += (__u16)~(from & 0xffff) + (__u16)~(from >> 16);
	sum += (to & 0xffff) + (to >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Rewrites the source of the frame for packet number `seq`, keeping the IPv4
 * header checksum and the UDP checksum (if set) valid; 0 on success. */
static __always_inline int bench_set_source(struct xdp_md *ctx, const struct bench_src *src,
					    __u64 seq)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__be32 addr = bpf_htonl(src->base + (__u32)(seq % src->n_sources)), old;
	struct udphdr *uh;

	if ((void *)(eth + 1) > end)
		return -1;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);

		uh = (void *)(iph + 1);
		if ((void *)(uh + 1) > end)
			return -1;
		old = iph->saddr;
		iph->saddr = addr;
		iph->check = bench_csum_replace4(iph->check, old, addr);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = (void *)(eth + 1);

		uh = (void *)(ip6h + 1);
		if ((void *)(uh + 1) > end)
			return -1;
		old = ip6h->saddr.in6_u.u6_addr32[3];
		ip6h->saddr.in6_u.u6_addr32[3] = addr;
	} else {
		return -1;
	}
	if (uh->check)
		uh->check = bench_csum_replace4(uh->check, old, addr);
	return 0;
}
#endif

#endif
