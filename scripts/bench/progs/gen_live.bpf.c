// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * In-kernel traffic generator for the end-to-end bench: test-run with
 * BPF_F_TEST_XDP_LIVE_FRAMES on the sender veth, every frame gets the next
 * source address (base + counter mod n_sources) and leaves with XDP_TX, i.e.
 * out of the sender veth into the receiver namespace. Bounded by the bench's
 * repeat count.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "bench_abi.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Frames generated so far on this CPU; reset by the bench. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} gl_counter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bench_src);
} gl_src SEC(".maps");

SEC("xdp")
int gen_live(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *ctr = bpf_map_lookup_elem(&gl_counter, &zero);
	struct bench_src *src = bpf_map_lookup_elem(&gl_src, &zero);

	if (!ctr || !src || !src->n_sources)
		return XDP_ABORTED;
	if (bench_set_source(ctx, src, *ctr))
		return XDP_ABORTED;
	(*ctr)++;
	return XDP_TX;
}
