// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark driver. BPF_PROG_TEST_RUN with `repeat` re-runs one buffer, so this
 * program rewrites the IPv4/IPv6 source address from a per-CPU counter
 * (base + counter mod n_sources) and tail-calls the program under test
 * (bd_target[0]). Every measured program, the baselines included, runs behind
 * the same driver, so the driver's cost cancels in net costs.
 * Frames are built by the bench: Ethernet without VLAN tags.
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

/* Packets driven so far on this CPU; reset by the bench. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bd_counter SEC(".maps");

/* Source range; written by the bench between runs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bench_src);
} bd_src SEC(".maps");

/* The program under test; written by the bench. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} bd_target SEC(".maps");

SEC("xdp")
int bench_driver(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *ctr = bpf_map_lookup_elem(&bd_counter, &zero);
	struct bench_src *src = bpf_map_lookup_elem(&bd_src, &zero);

	if (!ctr || !src || !src->n_sources)
		return XDP_ABORTED;
	if (bench_set_source(ctx, src, *ctr))
		return XDP_ABORTED;
	(*ctr)++;
	bpf_tail_call(ctx, &bd_target, 0);
	return XDP_ABORTED; /* no target */
}
