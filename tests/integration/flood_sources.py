#!/usr/bin/env python3
"""Sends UDP frames from many distinct IPv4 sources through one interface (for tests).

usage: flood_sources.py IFNAME DST_MAC DST_IP FIRST_SRC COUNT REPEAT
Sends REPEAT back-to-back frames from each of COUNT consecutive source
addresses starting at FIRST_SRC (so COUNT*REPEAT frames in all, bounded), then
prints the number of frames sent. Raw AF_PACKET: no routing, no ARP.
"""
import ipaddress
import socket
import struct
import sys


def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def main():
    ifname, dmac, dst, first, count, repeat = sys.argv[1:7]
    count, repeat = int(count), int(repeat)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    smac = open("/sys/class/net/%s/address" % ifname).read().strip()
    eth = bytes.fromhex(dmac.replace(":", "")) + bytes.fromhex(smac.replace(":", "")) + b"\x08\x00"
    d = ipaddress.IPv4Address(dst).packed
    base = int(ipaddress.IPv4Address(first))
    payload = b"x" * 18
    udp = struct.pack("!HHHH", 40000, 9, 8 + len(payload), 0) + payload
    sent = 0
    for i in range(count):
        src = ipaddress.IPv4Address(base + i).packed
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0, src, d)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        frame = eth + ip + udp
        for _ in range(repeat):
            s.send(frame)
            sent += 1
    print(sent)


if __name__ == "__main__":
    main()
