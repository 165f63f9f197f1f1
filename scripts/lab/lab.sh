# shellcheck shell=bash
# The ratelimit lab: two network namespaces joined by one veth pair.
#
#   <name>-tx (senders)                       <name>-rx (ratelimitd + receiver)
#   veth "tx0" 198.18.0.1/15  <----------->   veth "rx0" 198.18.0.2/15   <- XDP here
#   + extra /32 source addresses
#
# Source this file, then:
#   trap lab_down EXIT          # ALWAYS, before lab_up
#   lab_up PREFIX [ADDR ...]    # ADDRs: extra sender addresses (IPv4 in 198.18.0.0/15)
#   lab_tx CMD ...              # run CMD in the sender namespace
#   lab_rx CMD ...              # run CMD in the receiver namespace
#   lab_rx_bg CMD ...           # same, in the background: PID in $LAB_BG_PID, tracked
#   lab_track_pid PID           # lab_down kills it (by PID) before deleting namespaces
#   lab_down                    # idempotent: kills tracked PIDs, deletes netns, removes $LAB_PIN_DIR
#
# Exports after lab_up: LAB_NAME LAB_TX_NS LAB_RX_NS LAB_TX_IF LAB_RX_IF LAB_TX_IP LAB_RX_IP
# LAB_PIN_DIR (a bpffs directory unique to this run, created on first use by the daemon).
#
# Safety: the veth pair is created inside the sender namespace with its peer
# moved straight into the receiver namespace, so no interface ever exists in
# the root namespace; nothing here touches root-namespace interfaces.
#
# Why nsenter and not `ip netns exec`: `ip netns exec` unshares the mount
# namespace and remounts /sys, which hides the host's bpffs (/sys/fs/bpf is then
# empty and unmounted). A daemon started that way would pin into a private bpffs
# that vanishes with it, so a restarted daemon (kill -9 test) could not find its
# state. `nsenter --net` switches only the network namespace: /sys/fs/bpf is the
# host's bpffs, pins under $LAB_PIN_DIR survive the daemon and lab_down removes them.
# lab_up mounts bpffs on /sys/fs/bpf if the host has not (scripts/setup.sh does too).
#
# XDP on veth (kernel >= 5.9, checked on 6.18):
#   - native (driver) mode on the receiving veth works for packets that the
#     sender namespace's stack transmits into the peer: veth_xmit hands the skb to
#     the receiving side's NAPI ring and the program runs in that NAPI poll
#     (XDP_PASS -> normal stack, XDP_DROP -> freed). Loading a program there
#     makes the kernel turn TSO off on the peer (checked with ethtool -k on 6.18:
#     tx0 tcp-segmentation-offload on -> off; GSO stays on, which segments in
#     software before veth_xmit), so every frame the program sees is one
#     MTU-sized packet; GRO is off on both ends by default and is not needed.
#     Nothing has to be disabled by hand.
#   - the "peer needs an XDP program or GRO enabled" rule applies only to frames
#     *redirected* into a veth (ndo_xdp_xmit): without NAPI on the peer they are
#     dropped. The lab never redirects, so it does not need it.
#   - generic (skb) mode also works (runs in netif_receive_skb); it is slower and
#     is what libxdp falls back to if native attach fails.
#   - the NAPI poll runs in softirq on the sending CPU as the sender's sendto()
#     re-enables bottom halves, so bpf_ktime_get_ns() in the program lies between
#     the CLOCK_MONOTONIC stamps the sender takes before and after sendto() unless
#     softirqs are deferred to ksoftirqd (busy machine).
# IPv6 is disabled on both veths so that router/neighbour solicitations do not
# show up as extra metered packets.

LAB_TX_IP=198.18.0.1
LAB_RX_IP=198.18.0.2
LAB_PLEN=15
LAB_TX_IF=tx0
LAB_RX_IF=rx0
LAB_PIDS=()

_lab_log() { echo "lab: $*" >&2; }

# lab_up PREFIX [ADDR ...]
lab_up() {
    local prefix=${1:?lab_up PREFIX [ADDR ...]}
    shift
    # unique per run: PID of the calling shell plus a random tag
    LAB_NAME="${prefix}-$$-$(printf '%04x' $((RANDOM)))"
    LAB_TX_NS="${LAB_NAME}-tx"
    LAB_RX_NS="${LAB_NAME}-rx"
    LAB_PIN_DIR="/sys/fs/bpf/rltest-${LAB_NAME}"
    export LAB_NAME LAB_TX_NS LAB_RX_NS LAB_TX_IF LAB_RX_IF LAB_TX_IP LAB_RX_IP LAB_PIN_DIR
    _LAB_ACTIVE=1

    if ! mount | grep -q ' /sys/fs/bpf type bpf'; then
        mount -t bpf bpf /sys/fs/bpf || { _lab_log "cannot mount bpffs"; return 1; }
    fi

    ip netns add "$LAB_TX_NS" || return 1
    ip netns add "$LAB_RX_NS" || return 1
    # created inside tx, peer moved directly into rx: never in the root namespace
    ip -n "$LAB_TX_NS" link add "$LAB_TX_IF" type veth peer name "$LAB_RX_IF" netns "$LAB_RX_NS" || return 1

    local ns ifc ip
    for ns in "$LAB_TX_NS" "$LAB_RX_NS"; do
        if [ "$ns" = "$LAB_TX_NS" ]; then ifc=$LAB_TX_IF ip=$LAB_TX_IP; else ifc=$LAB_RX_IF ip=$LAB_RX_IP; fi
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
            "net.ipv6.conf.$ifc.disable_ipv6=1" || return 1
        # loose/strict reverse-path filtering would drop the extra sources on some hosts
        ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 "net.ipv4.conf.$ifc.rp_filter=0" || return 1
        ip -n "$ns" link set lo up || return 1
        ip -n "$ns" addr add "$ip/$LAB_PLEN" dev "$ifc" || return 1
        ip -n "$ns" link set "$ifc" up || return 1
    done
    # big socket buffers so the receiver never drops what XDP passed
    ip netns exec "$LAB_RX_NS" sysctl -qw net.core.rmem_max=67108864 net.core.rmem_default=33554432 2>/dev/null || true
    local a
    for a in "$@"; do
        lab_add_source "$a" || return 1
    done
    # resolve the neighbour once so the first measured packet is not queued behind
    # ARP; the veth carrier may take a moment to come up, so retry for up to 5 s
    local i
    for ((i = 0; i < 25; i++)); do
        lab_tx ping -c1 -W1 -q "$LAB_RX_IP" >/dev/null 2>&1 && break
        sleep 0.2
    done
    [ "$i" -lt 25 ] || { _lab_log "no connectivity tx -> rx"; return 1; }
    _lab_log "up: $LAB_TX_NS/$LAB_TX_IF $LAB_TX_IP <-> $LAB_RX_NS/$LAB_RX_IF $LAB_RX_IP, $# extra sources"
}

# lab_add_source ADDR: one more /32 sender address (must be in 198.18.0.0/15).
lab_add_source() {
    local a=${1:?addr}
    case "$a" in 198.18.*|198.19.*) ;; *) _lab_log "refusing source $a outside 198.18.0.0/15"; return 1 ;; esac
    # /32 noprefixroute: the /15 connected route already covers it
    ip -n "$LAB_TX_NS" addr add "$a/32" dev "$LAB_TX_IF" noprefixroute
}

lab_tx() { nsenter --net="/run/netns/$LAB_TX_NS" -- "$@"; }
lab_rx() { nsenter --net="/run/netns/$LAB_RX_NS" -- "$@"; }

lab_track_pid() { LAB_PIDS+=("$1"); }

# lab_tx_bg / lab_rx_bg CMD ...: start CMD in the background in that namespace;
# its PID (nsenter execs CMD, so it is CMD's PID) is in LAB_BG_PID and tracked.
# Redirect as usual: lab_rx_bg prog >log 2>&1
lab_tx_bg() { nsenter --net="/run/netns/$LAB_TX_NS" -- "$@" & LAB_BG_PID=$!; lab_track_pid "$LAB_BG_PID"; }
lab_rx_bg() { nsenter --net="/run/netns/$LAB_RX_NS" -- "$@" & LAB_BG_PID=$!; lab_track_pid "$LAB_BG_PID"; }

# Waits up to $2 seconds (default 5) for PID $1 to exit, then SIGKILLs it.
lab_stop_pid() {
    local pid=$1 wait_s=${2:-5} i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < wait_s * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

lab_down() {
    local rc=$?
    [ -n "${_LAB_ACTIVE:-}" ] || return $rc
    local pid
    for pid in "${LAB_PIDS[@]}"; do
        lab_stop_pid "$pid" 3
    done
    LAB_PIDS=()
    ip netns del "$LAB_TX_NS" 2>/dev/null
    ip netns del "$LAB_RX_NS" 2>/dev/null
    # our own pin directory only; never /sys/fs/bpf/ratelimit
    case "$LAB_PIN_DIR" in
        /sys/fs/bpf/rltest-?*) rm -rf -- "$LAB_PIN_DIR" ;;
    esac
    _LAB_ACTIVE=
    return $rc
}

# lab_leftovers NAME: prints anything of run NAME still present (netns, pins); empty = clean.
lab_leftovers() {
    local name=${1:?name}
    ip netns list 2>/dev/null | awk '{print $1}' | grep -F -- "$name" | sed 's/^/netns /'
    ls -d /sys/fs/bpf/rltest-"$name"* 2>/dev/null | sed 's/^/pin /'
    return 0
}
