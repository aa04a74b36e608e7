#!/usr/bin/python3
"""bench/idle_conns.py: RSS cost of idle keep-alive client connections.

idle_conns.py PORT N PID[,PID...]
Opens N connections to 127.0.0.1:PORT in batches, sends one keep-alive GET on
each and reads its response, so that every connection is an idle keep-alive
connection of the proxy (not a half-open one). Measures the summed VmRSS of
the PIDs before and after, prints
    RESULT rss_before_kb rss_after_kb n_open n_answered
then closes everything. Non-blocking sockets and epoll; needs ulimit -n > N.
"""
import errno, selectors, socket, sys, time

def rss_kb(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total

def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    pids = [int(p) for p in sys.argv[3].split(",") if p]
    req = b"GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: idle_conns\r\n\r\n"
    time.sleep(0.5)
    before = rss_kb(pids)
    sel = selectors.DefaultSelector()
    socks, answered = [], 0
    batch = 500
    for start in range(0, n, batch):
        pending = {}
        for _ in range(min(batch, n - start)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            socks.append(s)
            pending[s] = "connect"
            sel.register(s, selectors.EVENT_WRITE)
        deadline = time.time() + 20
        while pending and time.time() < deadline:
            for key, ev in sel.select(timeout=1):
                s = key.fileobj
                if pending.get(s) == "connect":
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        sel.unregister(s); del pending[s]; continue
                    try:
                        s.send(req)
                    except OSError:
                        sel.unregister(s); del pending[s]; continue
                    pending[s] = "read"
                    sel.modify(s, selectors.EVENT_READ)
                else:
                    try:
                        data = s.recv(65536)
                    except OSError:
                        data = b""
                    sel.unregister(s); del pending[s]
                    # Small static answers arrive in one piece; a close means
                    # the proxy refused to keep the connection.
                    if data.startswith(b"HTTP/1.1 200"):
                        answered += 1
        for s in list(pending):
            sel.unregister(s)
    time.sleep(1.0)
    alive = 0
    for s in socks:   # still open (no FIN from the proxy)?
        try:
            d = s.recv(1, socket.MSG_PEEK)
            if d != b"":
                alive += 1
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    after = rss_kb(pids)
    print(f"RESULT {before} {after} {alive} {answered}", flush=True)
    for s in socks:
        s.close()

if __name__ == "__main__":
    main()
