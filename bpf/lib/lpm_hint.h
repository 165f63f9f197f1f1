/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * LPM hint buckets (abi.h "LPM hint"), pure: the same bit for a source in the
 * XDP program and for a prefix in user space, which sets the bits. Addresses
 * are read from memory in network order and folded on the host's byte order;
 * both sides run on the same machine.
 */
#ifndef RL_LIB_LPM_HINT_H
#define RL_LIB_LPM_HINT_H

#include "compat.h"
#include "ratelimit/abi.h"

/* IPv4: the top 16 bits of the address (a is in network order, as in memory). */
RL_INLINE __u32 rl_hint4_bucket(const __u8 *a)
{
	return ((__u32)a[0] << 8) | a[1];
}

/* IPv6: Fibonacci hashes of the top 48 and top 32 bits. */
RL_INLINE __u32 rl_hint6_bucket48(const __u8 *a)
{
	__u64 v = ((__u64)a[0] << 40) | ((__u64)a[1] << 32) | ((__u64)a[2] << 24) |
		  ((__u64)a[3] << 16) | ((__u64)a[4] << 8) | a[5];

	return (__u32)((v * 0x9E3779B97F4A7C15ull) >> (64 - RL_HINT_BITS));
}

RL_INLINE __u32 rl_hint6_bucket32(const __u8 *a)
{
	__u64 v = ((__u64)a[0] << 24) | ((__u64)a[1] << 16) | ((__u64)a[2] << 8) | a[3];

	return (__u32)((v * 0x9E3779B97F4A7C15ull) >> (64 - RL_HINT_BITS));
}

/* Word index in rl_lpmhint and bit in that word of a bucket of a bitmap. */
RL_INLINE __u32 rl_hint_word(__u32 bitmap, __u32 bucket)
{
	return bitmap + (bucket >> 6);
}

RL_INLINE __u64 rl_hint_bit(__u32 bucket)
{
	return 1ull << (bucket & 63);
}

#endif
