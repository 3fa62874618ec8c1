#!/usr/bin/env python3
"""Resident memory of `portcullis serve` across a burst of password sign-ins (issue 14).

Starts the given binary on a fresh SQLite database in a temporary directory, creates one
user per thread with the CLI, reads the idle VmRSS, runs N browser sign-ins (GET /login for
the CSRF cookie and token, POST /login with the form; each must answer 303 with a session
cookie) from C threads, then reports throughput, the peak and post-burst VmRSS, waits, reports VmRSS again
and prints PASS or FAIL against the goal:

    post-burst RSS <= idle + max_concurrent_hashes * argon2 memory + 10 MiB
    RSS after the wait within 10 MiB of idle
    throughput >= 90 % of --baseline-throughput (when given)

Python 3 standard library only. Linux only (reads /proc/PID/status).

    cargo build --release --locked
    python3 benches/load/signin_memory.py --binary target/release/portcullis
"""

import argparse
import base64
import http.client
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

USERNAME = "loadtest"
PASSWORD = "quartz lantern meadow violin 4817"
MIB = 1024 * 1024


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--binary", default="target/release/portcullis")
    p.add_argument("--signins", type=int, default=1600)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--max-concurrent-hashes", type=int, default=4,
                   help="password.max_concurrent_hashes for the server (default 4)")
    p.add_argument("--argon2-memory-kib", type=int, default=19456,
                   help="password.argon2_memory_kib (default 19456, the shipped default)")
    p.add_argument("--settle-secs", type=float, default=60.0,
                   help="idle wait after the burst before the last reading (default 60)")
    p.add_argument("--baseline-throughput", type=float,
                   help="sign-ins/s of the binary before the change, for the 10 %% check")
    return p.parse_args()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def mib(kib):
    return kib / 1024


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read()
    finally:
        conn.close()


def cookies_from(headers):
    jar = {}
    for name, value in headers:
        if name.lower() == "set-cookie":
            pair = value.split(";", 1)[0]
            k, _, v = pair.partition("=")
            jar[k.strip()] = v.strip()
    return jar


def sign_in(port, username):
    """One browser sign-in; returns None on success, else what went wrong."""
    status, headers, body = request(port, "GET", "/login")
    if status != 200:
        return f"GET /login answered {status}"
    match = re.search(rb'name="csrf_token" value="([^"]+)"', body)
    if not match:
        return "no csrf_token on /login"
    jar = cookies_from(headers)
    form = urllib.parse.urlencode({
        "csrf_token": match.group(1).decode(),
        "return_to": "/",
        "request": "",
        "username": username,
        "password": PASSWORD,
    })
    status, headers, _ = request(port, "POST", "/login", body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items()),
    })
    if status != 303:
        return f"POST /login answered {status}"
    if not any(k.endswith("portcullis_session") for k in cookies_from(headers)):
        return "POST /login set no session cookie"
    return None


def wait_ready(port, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if request(port, "GET", "/readyz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server not ready in time")


def main():
    args = parse_args()
    binary = os.path.abspath(args.binary)
    tmp = tempfile.TemporaryDirectory(prefix="portcullis-load-")
    port = free_port()
    env = dict(os.environ)
    env.pop("RUST_LOG", None)
    env.update({
        "PORTCULLIS__DATABASE__URL": f"sqlite://{tmp.name}/portcullis.db",
        "PORTCULLIS__SERVER__LISTEN": f"127.0.0.1:{port}",
        "PORTCULLIS__ISSUER": f"http://127.0.0.1:{port}",
        "PORTCULLIS__KEYS__ENCRYPTION_KEY":
            base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="),
        "PORTCULLIS__PASSWORD__MAX_CONCURRENT_HASHES": str(args.max_concurrent_hashes),
        "PORTCULLIS__PASSWORD__ARGON2_MEMORY_KIB": str(args.argon2_memory_kib),
        "PORTCULLIS__LOG__LEVEL": "warn",
    })
    # One account per thread: the lock-out admits one password check at a time per account
    # and source, so concurrent sign-ins to one account would be refused, not measured.
    for i in range(args.concurrency):
        subprocess.run(
            [binary, "user", "add", "--username", f"{USERNAME}{i}",
             "--email", f"{USERNAME}{i}@example.com", "--password-stdin"],
            input=PASSWORD + "\n", text=True, env=env, check=True, stdout=subprocess.DEVNULL)
    log = open(os.path.join(tmp.name, "server.log"), "w")
    proc = subprocess.Popen([binary, "serve"], env=env, stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(port, proc)
        time.sleep(2)
        idle = rss_kib(proc.pid)
        print(f"binary: {binary}")
        print(f"sign-ins: {args.signins} at {args.concurrency} concurrent; "
              f"max_concurrent_hashes = {args.max_concurrent_hashes}; "
              f"argon2_memory_kib = {args.argon2_memory_kib}; cores = {os.cpu_count()}")
        print(f"idle RSS: {mib(idle):.1f} MiB")

        peak = [idle]
        sampling = threading.Event()

        def sample():
            while not sampling.is_set():
                peak[0] = max(peak[0], rss_kib(proc.pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        remaining = [args.signins]
        failures = []
        lock = threading.Lock()

        def worker(username):
            while True:
                with lock:
                    if remaining[0] == 0:
                        return
                    remaining[0] -= 1
                try:
                    problem = sign_in(port, username)
                except OSError as e:
                    problem = f"connection error: {e}"
                if problem:
                    with lock:
                        failures.append(problem)

        started = time.monotonic()
        workers = [threading.Thread(target=worker, args=(f"{USERNAME}{i}",))
                   for i in range(args.concurrency)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.monotonic() - started
        sampling.set()
        sampler.join()
        after = rss_kib(proc.pid)
        peak[0] = max(peak[0], after)
        throughput = args.signins / elapsed
        print(f"burst: {elapsed:.1f} s, {throughput:.1f} sign-ins/s, "
              f"{len(failures)} failed")
        print(f"peak RSS during the burst: {mib(peak[0]):.1f} MiB")
        print(f"RSS right after the burst: {mib(after):.1f} MiB")
        time.sleep(args.settle_secs)
        settled = rss_kib(proc.pid)
        print(f"RSS {args.settle_secs:.0f} s later: {mib(settled):.1f} MiB")

        per_hash = args.argon2_memory_kib
        limit = idle + args.max_concurrent_hashes * per_hash + 10 * 1024
        checks = [
            (f"all {args.signins} sign-ins succeeded", not failures),
            (f"post-burst RSS {mib(after):.1f} <= idle + {args.max_concurrent_hashes} x "
             f"{mib(per_hash):.0f} + 10 = {mib(limit):.1f} MiB", after <= limit),
            (f"RSS after {args.settle_secs:.0f} s {mib(settled):.1f} within 10 MiB of idle "
             f"{mib(idle):.1f} MiB", abs(settled - idle) <= 10 * 1024),
        ]
        if args.baseline_throughput:
            floor = 0.9 * args.baseline_throughput
            checks.append((f"throughput {throughput:.1f}/s >= 90 % of "
                           f"{args.baseline_throughput:.1f}/s = {floor:.1f}/s",
                           throughput >= floor))
        for text, ok in checks:
            print(f"{'ok  ' if ok else 'FAIL'} {text}")
        if failures:
            print(f"first failures: {sorted(set(failures))[:5]}")
            log.flush()
            with open(log.name) as f:
                print("server log (last lines):\n" + "".join(f.readlines()[-10:]))
        passed = all(ok for _, ok in checks)
        print("PASS" if passed else "FAIL")
        return 0 if passed else 1
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
