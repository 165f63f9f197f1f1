#!/usr/bin/env python3
"""Minimal client for the ratelimitd control socket (docs/protocol.md), for tests.

usage: rl_sock.py SOCKET CMD [ARGS_JSON] [--stream N] [--raw LINE]
Prints the response line (or N stream lines after the ok reply); exit 0 if ok.
"""
import json
import socket
import sys


def main():
    path, cmd = sys.argv[1], sys.argv[2]
    args = {}
    rest = sys.argv[3:]
    stream = 0
    raw = None
    while rest:
        a = rest.pop(0)
        if a == "--stream":
            stream = int(rest.pop(0))
        elif a == "--raw":
            raw = rest.pop(0)
        else:
            args = json.loads(a)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(path)
    if raw is not None:
        s.sendall(raw.encode() + b"\n")
    else:
        s.sendall((json.dumps({"v": 1, "id": 1, "cmd": cmd, "args": args}) + "\n").encode())
    f = s.makefile("rb")
    line = f.readline()
    if not line:
        print("connection closed")
        return 3
    print(line.decode().rstrip())
    resp = json.loads(line)
    if not resp.get("ok"):
        return 1
    for _ in range(stream):
        line = f.readline()
        if not line:
            return 3
        print(line.decode().rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
