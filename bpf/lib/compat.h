/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Lets the pure algorithm headers compile for BPF (clang -target bpf) and the host. */
#ifndef RL_LIB_COMPAT_H
#define RL_LIB_COMPAT_H

#include <linux/types.h>

#ifdef __bpf__
#define RL_INLINE static inline __attribute__((always_inline))
#else
#define RL_INLINE static inline
#endif

#endif
