#!/usr/bin/env python3
"""Minimal client for the ratelimitd control socket (docs/protocol.md), for tests.

usage: rl_sock.py SOCKET CMD [ARGS_JSON] [--stream N]
       rl_sock.py SOCKET - --raw LINE [--raw LINE ...]
The first form prints the response (and N stream lines after an ok stream
reply) and exits 0 if ok, 1 if not. The second sends each raw line on one
connection and prints one response per line, or "connection closed".
"""
import json
import socket
import sys


def main():
    path, cmd = sys.argv[1], sys.argv[2]
    args = {}
    rest = sys.argv[3:]
    stream = 0
    raws = []
    while rest:
        a = rest.pop(0)
        if a == "--stream":
            stream = int(rest.pop(0))
        elif a == "--raw":
            raws.append(rest.pop(0))
        else:
            args = json.loads(a)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(path)
    f = s.makefile("rb")
    if raws:
        for r in raws:
            try:
                s.sendall(r.encode() + b"\n")
                line = f.readline()
            except OSError:  # EPIPE / ECONNRESET: the server closed the connection
                line = b""
            if not line:
                print("connection closed")
                return 0
            print(line.decode().rstrip())
        # a closed connection shows as EOF on the next read
        s.settimeout(1)
        try:
            if f.readline() == b"":
                print("connection closed")
        except (socket.timeout, OSError):
            pass
        return 0
    s.sendall((json.dumps({"v": 1, "id": 1, "cmd": cmd, "args": args}) + "\n").encode())
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
