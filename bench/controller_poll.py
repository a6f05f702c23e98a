#!/usr/bin/python3 -S
"""bench/controller_poll.py - watches every node of a fleet while bench/controller
moves it (python3 standard library only).

  controller_poll.py URLS_FILE SERVED_NAME INTERVAL_MS
      Persistent.  URLS_FILE holds one node base URL a line.  The process keeps
      one keep-alive HTTP/1.1 connection to each node and reads one JSON
      command a line on stdin; it answers one JSON line on stdout per command.

      {"cmd":"state"}
          One round of POST /v2/repository/index on every node:
          {"nodes","errors","states":{"<version>:<weight>,...": count}} where a
          state lists the READY versions of SERVED_NAME with weight > 0.

      {"cmd":"watch","version":V,"argv":[...],"timeout":S,"settle_ms":M}
          Starts polling every node (each on its own schedule, INTERVAL_MS
          between the starts of two requests to one node, the nodes spread
          evenly over the interval), then runs argv (a CLI call such as
          `mlreg promote ...`) and keeps polling until every node serves
          version V alone (READY, weight 100, no other version of SERVED_NAME
          with weight) and the command has exited, then M more milliseconds
          to see whether any node leaves that state again.  Times are
          perf_counter seconds from just before the command is started (t0):
            cmd_s       the command's own duration (start to exit)
            all_s       the receive time of the answer in which the LAST node
                        first showed V alone (the upper bound: nothing is
                        subtracted)
            all_low_s   max over nodes of the send time of that node's last
                        request that did NOT show V alone (a lower bound: the
                        node changed after that answer was made)
            node_p50_s, node_min_s   per-node first-seen times (upper bounds)
            bracket_p50_ms, bracket_max_ms   per node, first-seen minus
                        last-not-seen send: the resolution of the measurement
            gap_p50_ms, gap_max_ms   time between two requests to one node
                        (the achieved poll interval, over all requests)
            states_seen every distinct state observed on any node meanwhile
            flaps       nodes that showed V alone and later something else
            requests, errors, poller_cpu_s (this process's CPU in the watch)
            t0_unix     time.time() at t0, to line up with the nodes' logs
          Nodes already serving V alone before t0 count as done at 0 (the
          before-state is reported as "before").

Done nodes are polled at a tenth of the rate (10 x INTERVAL_MS), so the
poller's own load falls as the fleet converges.
"""
import json
import os
import resource
import selectors
import socket
import subprocess
import sys
import time
import urllib.parse

REQ = (b"POST /v2/repository/index HTTP/1.1\r\nHost: n\r\nContent-Type: application/json\r\n"
       b"Content-Length: 2\r\n\r\n{}")


class Node:
    __slots__ = ("i", "host", "port", "sock", "buf", "sent_at", "busy", "due", "done_at", "last_not",
                 "flap", "state", "last_sent")

    def __init__(self, i, url):
        u = urllib.parse.urlsplit(url)
        self.i, self.host, self.port = i, u.hostname, u.port
        self.sock, self.buf, self.busy = None, b"", False
        self.sent_at = self.due = self.last_sent = 0.0
        self.done_at = self.last_not = None
        self.flap = False
        self.state = None


class Poller:
    def __init__(self, urls, served, interval):
        self.nodes = [Node(i, u) for i, u in enumerate(urls)]
        self.served, self.interval = served, interval
        self.sel = selectors.DefaultSelector()
        self.errors = 0
        for n in self.nodes:
            self.connect(n)

    def connect(self, n):
        if n.sock is not None:
            try:
                self.sel.unregister(n.sock)
            except (KeyError, ValueError):
                pass
            n.sock.close()
        s = socket.create_connection((n.host, n.port), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        n.sock, n.buf, n.busy = s, b"", False
        self.sel.register(s, selectors.EVENT_READ, n)

    def send(self, n, now):
        try:
            n.sock.sendall(REQ)
        except OSError:
            self.errors += 1
            self.connect(n)
            n.sock.sendall(REQ)
        n.sent_at, n.busy = now, True
        if n.last_sent:
            self.gaps.append(now - n.last_sent)
        n.last_sent = now

    def state_of(self, body):
        """READY versions of the served name with weight > 0, as a sorted tuple."""
        out = []
        for e in json.loads(body):
            if e.get("name") == self.served and e.get("state") == "READY" and (e.get("weight") or 0) > 0:
                out.append((int(e["version"]), int(e["weight"])))
        return tuple(sorted(out))

    def read(self, n):
        """Read what is there; returns the body when an answer is complete, else None."""
        try:
            chunk = n.sock.recv(65536)
        except BlockingIOError:
            return None
        except OSError:
            chunk = b""
        if not chunk:  # the node closed the connection (idle timeout): ask again
            self.errors += 1
            self.connect(n)
            self.send(n, time.perf_counter())
            return None
        n.buf += chunk
        h = n.buf.find(b"\r\n\r\n")
        if h < 0:
            return None
        head = n.buf[:h].decode("latin-1").lower()
        length = None
        for line in head.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            if k.strip() == "content-length":
                length = int(v.strip())
        if length is None:
            raise RuntimeError("answer without Content-Length: " + head[:200])
        if len(n.buf) < h + 4 + length:
            return None
        body = n.buf[h + 4:h + 4 + length]
        n.buf = n.buf[h + 4 + length:]
        n.busy = False
        if not head.startswith("http/1.1 200"):
            raise RuntimeError("node %d answered %s" % (n.i, head.split("\r\n")[0]))
        if "connection: close" in head:
            self.connect(n)
        return body

    def round(self):
        """One request to every node at once; returns their states."""
        self.gaps = []
        now = time.perf_counter()
        for n in self.nodes:
            self.send(n, now)
        left = len(self.nodes)
        deadline = now + 10
        while left:
            if time.perf_counter() > deadline:
                raise RuntimeError("nodes did not answer the index within 10 s")
            for key, _ in self.sel.select(0.5):
                n = key.data
                body = n.sock and self.read(n)
                if body is not None:
                    n.state = self.state_of(body)
                    left -= 1
        for n in self.nodes:
            n.last_sent = 0.0
        states = {}
        for n in self.nodes:
            k = ",".join("%d:%d" % vw for vw in n.state)
            states[k] = states.get(k, 0) + 1
        return states

    def watch(self, version, argv, timeout, settle_ms):
        want = ((version, 100),)
        before = self.round()
        self.gaps = []
        seen = set()
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        requests = 0
        t0 = time.perf_counter()
        t0_unix = time.time()
        for k, n in enumerate(self.nodes):
            n.done_at = 0.0 if n.state == want else None
            n.last_not = None if n.state == want else -1.0
            n.flap = False
            n.last_sent = 0.0
            n.due = t0 + self.interval * k / len(self.nodes)
        out_f = open(os.devnull, "wb")
        err_path = "/tmp/controller_poll.%d.err" % os.getpid()
        err_f = open(err_path, "wb")
        proc = subprocess.Popen(argv, stdout=out_f, stderr=err_f, stdin=subprocess.DEVNULL)
        cmd_s = None
        end_at = None
        while True:
            now = time.perf_counter()
            if cmd_s is None and proc.poll() is not None:
                cmd_s = now - t0
            if end_at is None and cmd_s is not None and all(n.done_at is not None for n in self.nodes):
                end_at = now + settle_ms / 1000.0
            if end_at is not None and now >= end_at:
                break
            if now - t0 > timeout:
                break
            nxt = now + 0.005
            for n in self.nodes:
                if not n.busy:
                    if n.due <= now:
                        self.send(n, now)
                        requests += 1
                        n.due = now + self.interval * (10 if n.done_at is not None else 1)
                    elif n.due < nxt:
                        nxt = n.due
            wait = max(0.0, nxt - time.perf_counter())
            for key, _ in self.sel.select(wait):
                n = key.data
                body = self.read(n)
                if body is None:
                    continue
                got = time.perf_counter() - t0
                st = self.state_of(body)
                seen.add(st)
                if st == want:
                    if n.done_at is None:
                        n.done_at = got
                else:
                    if n.done_at is not None:
                        n.flap = True
                    else:
                        n.last_not = n.sent_at - t0
        if cmd_s is None:
            proc.kill()
            proc.wait()
        out_f.close()
        err_f.close()
        with open(err_path, "rb") as f:
            err = f.read().decode("utf-8", "replace")[-2000:]
        os.unlink(err_path)
        # the nodes still in flight: drain their answers so the next round starts clean
        drain_until = time.perf_counter() + 5
        while any(n.busy for n in self.nodes):
            if time.perf_counter() > drain_until:
                raise RuntimeError("a node did not answer within 5 s")
            for key, _ in self.sel.select(0.5):
                self.read(key.data)
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        done = [n.done_at for n in self.nodes if n.done_at is not None]
        brackets = sorted((n.done_at - n.last_not) * 1000 for n in self.nodes
                          if n.done_at is not None and n.last_not is not None and n.last_not >= 0)
        gaps = sorted(g * 1000 for g in self.gaps)
        res = {
            "version": version, "nodes": len(self.nodes), "converged": len(done),
            "before": before, "rc": proc.returncode, "cmd_s": cmd_s, "cmd_stderr": err.strip()[-400:],
            "all_s": max(done) if len(done) == len(self.nodes) else None,
            "all_low_s": max((n.last_not for n in self.nodes if n.last_not is not None), default=None),
            "node_p50_s": pct(sorted(done), 50), "node_min_s": min(done) if done else None,
            "bracket_p50_ms": pct(brackets, 50), "bracket_max_ms": brackets[-1] if brackets else None,
            "gap_p50_ms": pct(gaps, 50), "gap_max_ms": gaps[-1] if gaps else None,
            "states_seen": sorted(",".join("%d:%d" % vw for vw in s) for s in seen),
            "flaps": sum(n.flap for n in self.nodes), "requests": requests, "errors": self.errors,
            "poller_cpu_s": round(ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime, 3),
            "t0_unix": t0_unix,
        }
        self.errors = 0
        return res


def pct(v, p):
    if not v:
        return None
    return v[min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))]


def main():
    urls_file, served, interval_ms = sys.argv[1], sys.argv[2], float(sys.argv[3])
    with open(urls_file) as f:
        urls = [l.strip() for l in f if l.strip()]
    p = Poller(urls, served, interval_ms / 1000.0)
    for line in sys.stdin:
        if not line.strip():
            continue
        c = json.loads(line)
        try:
            if c["cmd"] == "state":
                res = {"nodes": len(p.nodes), "states": p.round(), "errors": p.errors}
            elif c["cmd"] == "watch":
                res = p.watch(int(c["version"]), c["argv"], float(c.get("timeout", 120)),
                              float(c.get("settle_ms", 300)))
            else:
                res = {"error": "unknown command " + c["cmd"]}
        except Exception as e:  # one answer per command, always
            res = {"error": "%s: %s" % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(res) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
