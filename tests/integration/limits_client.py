"""limits_client.py - raw-socket clients for t_limits.sh (what curl cannot do).

  slow PORT INTERVAL REQUEST_HEX [CHUNK]
                                     send the request CHUNK (default 1) bytes per INTERVAL s;
                                     prints {"cut": bool, "after": s, "sent": n, "status": int|null}
  conns PORT N PATH                  open N keep-alive connections and use each once,
                                     then one more; prints what the extra one got and
                                     whether the first still answers, then after all
                                     close whether a new connection answers
  header PORT BYTES                  one request with a header of BYTES bytes;
                                     prints {"status": int|null, "closed": bool}
Statuses are read from the first line of the answer; null when none came.
"""
import json
import socket
import sys
import time


def status_of(data):
    try:
        line = data.split(b"\r\n", 1)[0].decode()
        return int(line.split()[1])
    except Exception:
        return None


def read_answer(s, timeout):
    """Read one answer (headers + Content-Length body).  Returns (status, closed)."""
    s.settimeout(timeout)
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            c = s.recv(65536)
            if not c:
                return status_of(buf), True
            buf += c
        head, rest = buf.split(b"\r\n\r\n", 1)
        n = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v.strip())
        while len(rest) < n:
            c = s.recv(65536)
            if not c:
                return status_of(buf), True
            rest += c
        return status_of(buf), False
    except socket.timeout:
        return status_of(buf), False
    except OSError:
        return status_of(buf), True


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def slow(port, interval, req, chunk=1):
    s = connect(port)
    t0 = time.monotonic()
    sent = 0
    cut = False
    for i in range(0, len(req), chunk):
        try:
            s.sendall(req[i:i + chunk])
            sent += len(req[i:i + chunk])
        except OSError:
            cut = True
            break
        # a closed connection shows as readable EOF
        s.settimeout(interval)
        try:
            c = s.recv(4096)
            if not c:
                cut = True
                break
            print(json.dumps({"cut": False, "after": time.monotonic() - t0, "sent": sent, "status": status_of(c)}))
            return
        except socket.timeout:
            pass
        except OSError:
            cut = True
            break
    st = None
    if not cut:
        st, cut = read_answer(s, 5)
    print(json.dumps({"cut": cut, "after": round(time.monotonic() - t0, 2), "sent": sent, "status": st}))


def get(s, path):
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
    return read_answer(s, 3)


def conns(port, n, path):
    out = {}
    held = [connect(port) for _ in range(n)]
    out["held"] = [get(s, path)[0] for s in held]
    try:
        extra = connect(port)
        extra.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
        st, closed = read_answer(extra, 1.5)
        out["extra"] = {"status": st, "closed": closed}
    except OSError as e:
        out["extra"] = {"status": None, "closed": True, "error": str(e)}
        extra = None
    out["first_again"] = get(held[0], path)[0]
    for s in held:
        s.close()
    if extra:
        extra.close()
    time.sleep(0.3)
    s = connect(port)
    out["after"] = get(s, path)[0]
    s.close()
    print(json.dumps(out))


def header(port, nbytes):
    s = connect(port)
    try:
        s.sendall(("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n" % ("a" * nbytes)).encode())
    except OSError:
        print(json.dumps({"status": None, "closed": True}))
        return
    st, closed = read_answer(s, 5)
    print(json.dumps({"status": st, "closed": closed}))


if __name__ == "__main__":
    cmd, port = sys.argv[1], int(sys.argv[2])
    if cmd == "slow":
        slow(port, float(sys.argv[3]), bytes.fromhex(sys.argv[4]), int(sys.argv[5]) if len(sys.argv) > 5 else 1)
    elif cmd == "conns":
        conns(port, int(sys.argv[3]), sys.argv[4])
    elif cmd == "header":
        header(port, int(sys.argv[3]))
    else:
        sys.exit("unknown command " + cmd)
