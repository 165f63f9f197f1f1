#!/usr/bin/python3
"""Minimal client of the ratelimitd control socket (docs/protocol.md, v1), for
tests: independent of ratelimitctl so that a CLI bug cannot hide a daemon bug.

    rlctl.py SOCKET CMD [JSON_ARGS]     prints the response line (JSON); exit 0 if ok,
                                        1 if the daemon answered ok:false, 2 on transport errors
    rlctl.py --wait SECONDS SOCKET      waits until `status` answers ok
"""
import json
import socket
import sys
import time


def call(path, cmd, args=None, timeout=10.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    req = {"v": 1, "id": 1, "cmd": cmd}
    if args is not None:
        req["args"] = args
    s.sendall((json.dumps(req) + "\n").encode())
    buf = b""
    while b"\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    if not buf.strip():
        raise ConnectionError("no response to %s" % cmd)
    return json.loads(buf.split(b"\n", 1)[0])


def main(argv):
    if len(argv) >= 3 and argv[1] == "--wait":
        deadline = time.monotonic() + float(argv[2])
        last = None
        while time.monotonic() < deadline:
            try:
                r = call(argv[3], "status", timeout=2.0)
                if r.get("ok"):
                    print(json.dumps(r))
                    return 0
                last = r
            except (OSError, ValueError) as e:
                last = e
            time.sleep(0.1)
        print("rlctl: %s not answering status: %s" % (argv[3], last), file=sys.stderr)
        return 2
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    args = json.loads(argv[3]) if len(argv) > 3 else None
    try:
        r = call(argv[1], argv[2], args)
    except (OSError, ValueError) as e:
        print("rlctl: %s: %s" % (argv[2], e), file=sys.stderr)
        return 2
    print(json.dumps(r))
    return 0 if r.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
