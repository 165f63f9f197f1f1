// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Spoofed-flood generator for tests/integration/test_flood_spoofed.sh, run by
 * rl_flood_tool with BPF_PROG_TEST_RUN + BPF_F_TEST_XDP_LIVE_FRAMES on the
 * sending end of a test veth pair: every frame gets the next source address of
 * a permutation of src_base + [0, src_mask] (index * src_stride, stride odd, so
 * consecutive frames differ and a lap visits every address once), a fresh IPv4
 * header checksum, and goes out with XDP_TX.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 src_base = 0;    /* host order */
const volatile __u32 src_mask = 0;    /* span - 1, span a power of two */
const volatile __u32 src_stride = 1;  /* odd */

__u64 frames = 0;                     /* frames rewritten (all CPUs) */

SEC("xdp")
int flood_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	__u16 *w = (__u16 *)ip;
	__u32 sum = 0, idx;
	__u64 i;
	int k;

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5)
		return XDP_ABORTED;
	i = __sync_fetch_and_add(&frames, 1);
	idx = ((__u32)i * src_stride) & src_mask;
	ip->saddr = bpf_htonl(src_base + idx);
	ip->check = 0;
#pragma unroll
	for (k = 0; k < 10; k++)
		sum += w[k];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	ip->check = (__u16)~sum;
	return XDP_TX;
}
