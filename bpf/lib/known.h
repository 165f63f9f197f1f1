/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Known-key filter bits (abi.h "Known-key filter"), pure: the same bit for a
 * state key in the XDP program, which sets it on insert, and in user space,
 * which rebuilds the filter from the state tables. Keys are hashed as the
 * bytes the maps hold, read on the host's byte order; both sides run on the
 * same machine.
 */
#ifndef RL_LIB_KNOWN_H
#define RL_LIB_KNOWN_H

#include "compat.h"
#include "ratelimit/abi.h"

/* MurmurHash3's 64-bit finaliser: every input bit reaches every output bit. */
RL_INLINE __u64 rl_known_fmix(__u64 h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

/* From the key's bytes as 64-bit words (the XDP program builds keys in registers). */
RL_INLINE __u32 rl_known_bit4w(__u64 w)
{
	return (__u32)(rl_known_fmix(w) >> (64 - RL_KNOWN_BITS));
}

RL_INLINE __u32 rl_known_bit6w(__u64 w0, __u64 w1, __u64 w2)
{
	return (__u32)(rl_known_fmix(w0 ^ rl_known_fmix(w1 ^ rl_known_fmix(w2))) >>
		       (64 - RL_KNOWN_BITS));
}

RL_INLINE __u32 rl_known_bit4(const struct rl_key4 *k)
{
	__u64 w;

	__builtin_memcpy(&w, k, sizeof(w));
	return rl_known_bit4w(w);
}

RL_INLINE __u32 rl_known_bit6(const struct rl_key6 *k)
{
	__u64 w[3];

	__builtin_memcpy(w, k, sizeof(w));
	return rl_known_bit6w(w[0], w[1], w[2]);
}

/* Word of a half and bit in that word. */
RL_INLINE __u32 rl_known_word(__u32 bit)
{
	return bit >> 6;
}

RL_INLINE __u64 rl_known_mask(__u32 bit)
{
	return 1ull << (bit & 63);
}

#endif
