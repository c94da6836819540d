#!/usr/bin/python3
"""The status endpoint and `callvault status`, end to end, while recording.

Contract:
  env CALLVAULT_BIN   the callvault binary
  env CALLVAULT_GEN   the callvault-gen binary (makes the captures)

  test_status.py [replay] [journal] [live]   (default: all)

replay   `callvault replay --status-listen 127.0.0.1:0` reads a named pipe that
         this test feeds at the capture's own pace (a source as slow as a
         live one, without root). While it runs, /metrics is scraped and read
         with a strict exposition parser: the packet counter rises, calls are
         active during the calls, index and journal metrics are present, free
         disk matches os.statvfs; /status and `callvault status` (text, --json)
         agree and exit 0. A second recorder on the same address exits 2
         naming it; after the replay ends `callvault status` exits 3.
journal  the same with an index database that is unreachable: the records wait
         in the journal, callvault_journal_records/bytes match the segment
         files on disk, and `callvault status` reports it unhealthy (exit 1).
live     `callvault capture` on a veth end in a network namespace (as
         tests/live), tcpreplay at the capture's own pace on the other end;
         the endpoint on the namespace's loopback: packets rise, a call is
         active, no drops, `callvault status` exit 0; after SIGTERM, exit 3.
         Needs root, ip and tcpreplay (skipped without them, except CI=true).

Standard library only. Exit 0 when every test passed, 1 when one failed, 77
(ctest SKIP) when the only test asked for could not run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/harness.py
from harness import CI, Failure, Skip, expect, run, run_named_tests  # noqa: E402


def run_unchecked(cmd: list[str], timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """These tests judge exit codes themselves."""
    return run(cmd, check=False, timeout=timeout, **kw)

CALLVAULT = os.environ.get("CALLVAULT_BIN", "")
GEN = os.environ.get("CALLVAULT_GEN", "")


# ---------------------------------------------------------------------------
# A strict reader of the Prometheus text exposition format 0.0.4
# ---------------------------------------------------------------------------

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
HELP_RE = re.compile(r"# HELP (%s) (.*)" % NAME)
TYPE_RE = re.compile(r"# TYPE (%s) (counter|gauge|histogram|summary|untyped)" % NAME)
SAMPLE_RE = re.compile(r"(%s)(?:\{(.*)\})? ([-+]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|NaN|\+Inf|-Inf))" % NAME)
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(?:,|$)')


def parse_exposition(text: str) -> dict[tuple, float]:
    """{(name, ((label, value), ...)): value}; raises Failure on any line that
    is not HELP, TYPE or a sample of a metric whose TYPE came before."""
    if not text.endswith("\n"):
        raise Failure("exposition does not end with a newline")
    types: dict[str, str] = {}
    helped: set[str] = set()
    samples: dict[tuple, float] = {}
    for n, line in enumerate(text.split("\n")[:-1], 1):
        m = HELP_RE.fullmatch(line)
        if m:
            if m.group(1) in helped:
                raise Failure("line %d: second HELP for %s" % (n, m.group(1)))
            helped.add(m.group(1))
            continue
        m = TYPE_RE.fullmatch(line)
        if m:
            if m.group(1) in types:
                raise Failure("line %d: second TYPE for %s" % (n, m.group(1)))
            types[m.group(1)] = m.group(2)
            continue
        m = SAMPLE_RE.fullmatch(line)
        if not m:
            raise Failure("line %d is not valid exposition text: %r" % (n, line))
        name, labels_text, value = m.group(1), m.group(2) or "", m.group(3)
        if name not in types:
            raise Failure("line %d: %s sampled before its TYPE" % (n, name))
        labels = []
        pos = 0
        while pos < len(labels_text):
            lm = LABEL_RE.match(labels_text, pos)
            if not lm:
                raise Failure("line %d: bad labels %r" % (n, labels_text))
            labels.append((lm.group(1), lm.group(2)))
            pos = lm.end()
        key = (name, tuple(sorted(labels)))
        if key in samples:
            raise Failure("line %d: duplicate series %s" % (n, key))
        if types[name] == "counter" and float(value) < 0:
            raise Failure("line %d: negative counter" % n)
        samples[key] = float(value)
    return samples


def metric(samples: dict[tuple, float], name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    if key not in samples:
        raise Failure("no series %s%s in the exposition" % (name, labels or ""))
    return samples[key]


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def http(addr: str, path: str, method: str = "GET") -> tuple[int, dict, str]:
    req = urllib.request.Request("http://%s%s" % (addr, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def scrape(addr: str) -> dict[tuple, float]:
    status, headers, body = http(addr, "/metrics")
    if status != 200:
        raise Failure("GET /metrics: HTTP %d" % status)
    if headers.get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8":
        raise Failure("GET /metrics: Content-Type %r" % headers.get("Content-Type"))
    return parse_exposition(body)


def pcap_records(path: Path) -> tuple[bytes, list[tuple[float, bytes]]]:
    """The global header and (timestamp, record bytes) of a classic pcap."""
    data = path.read_bytes()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    out, off = [], 24
    while off + 16 <= len(data):
        sec, frac, caplen = struct.unpack(endian + "III", data[off:off + 12])
        out.append((sec + frac / (1e9 if nano else 1e6), data[off:off + 16 + caplen]))
        off += 16 + caplen
    return data[:24], out


class PacedPipe:
    """Feeds a pcap into a named pipe at the capture's own pace (a thread)."""

    def __init__(self, fifo: Path, pcap: Path, paced: bool = True, hold_open: bool = False):
        self.header, self.records = pcap_records(pcap)
        self.fifo, self.paced, self.hold_open = fifo, paced, hold_open
        self.done = threading.Event()
        self.release = threading.Event()
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            with open(self.fifo, "wb", buffering=0) as f:
                f.write(self.header)
                t0 = time.monotonic()
                first = self.records[0][0] if self.records else 0
                for ts, rec in self.records:
                    if self.paced:
                        delay = (ts - first) - (time.monotonic() - t0)
                        if delay > 0:
                            time.sleep(delay)
                    f.write(rec)
                self.done.set()
                if self.hold_open:
                    self.release.wait(120)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e
            self.done.set()


def status_cmd(addr: str, *extra: str, prefix: list[str] | None = None) -> subprocess.CompletedProcess:
    return run_unchecked((prefix or []) + [CALLVAULT, "status", "--listen", addr] + list(extra), timeout=30)


def start_replay(work: Path, name: str, global_args: list[str], replay_args: list[str],
                 fifo: Path) -> tuple[subprocess.Popen, str, Path]:
    """callvault replay of the pipe with its endpoint on a free loopback port;
    returns the process, the endpoint's address (from its log) and the log."""
    err = work / (name + ".err")
    cmd = [CALLVAULT] + global_args + ["replay", "--json", "--status-listen", "127.0.0.1:0"] + replay_args + [str(fifo)]
    proc = subprocess.Popen(cmd, stdout=open(work / (name + ".json"), "w"), stderr=open(err, "w"))
    deadline = time.time() + 30
    while True:
        m = re.search(r"status endpoint: http://(\S+)/metrics", err.read_text())
        if m:
            return proc, m.group(1), err
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise Failure("replay did not start its endpoint:\n" + err.read_text())
        time.sleep(0.05)


def generate(work: Path, calls: int, concurrent: int, seconds: int) -> Path:
    pcap = work / ("calls-%d-%d-%d.pcap" % (calls, concurrent, seconds))
    p = run_unchecked([GEN, "--bench-calls", str(calls), "--concurrent", str(concurrent), "--seconds", str(seconds), "--out",
             str(pcap)], timeout=300)
    if p.returncode != 0 or not pcap.exists():
        raise Failure("callvault-gen failed:\n" + p.stderr)
    return pcap


def disk_free(path: str) -> int:
    p = Path(path)
    while not p.exists():
        p = p.parent
    st = os.statvfs(p)
    return st.f_bavail * st.f_frsize


def check_disk(samples: dict[tuple, float], path: str) -> None:
    got = metric(samples, "callvault_disk_free_bytes", path=path)
    want = disk_free(path)
    # The same statvfs a moment apart: other work on the machine may write meanwhile.
    expect(abs(got - want) < 256 << 20, "callvault_disk_free_bytes{path=%s} matches os.statvfs (%.0f vs %d)" %
           (path, got, want))


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------


def test_replay(work: Path) -> None:
    pcap = generate(work, 3, 2, 4)
    fifo = work / "feed.pcap"
    os.mkfifo(fifo)
    out = work / "rec"
    proc, addr, err = start_replay(work, "replay", [], ["--no-db", "--out", str(out)], fifo)
    try:
        # Held open after the last frame: the recorder runs on for the checks below.
        feeder = PacedPipe(fifo, pcap, hold_open=True)
        packets, max_active = [], 0
        samples: dict[tuple, float] = {}
        while not feeder.done.is_set():
            samples = scrape(addr)
            packets.append(metric(samples, "callvault_packets_total"))
            max_active = max(max_active, metric(samples, "callvault_active_calls"))
            time.sleep(0.3)
        if feeder.error:
            raise Failure("feeding the pipe failed: %s" % feeder.error)
        expect(len(packets) >= 5, "scraped %d times while the capture was fed" % len(packets))
        expect(all(b >= a for a, b in zip(packets, packets[1:])), "callvault_packets_total never goes back")
        expect(len(set(packets)) >= 3, "callvault_packets_total rises while packets come (%s)" % packets)
        expect(max_active > 0, "callvault_active_calls > 0 during the calls (max %d)" % max_active)
        for name in ("callvault_index_queue_depth", "callvault_journal_records", "callvault_journal_bytes",
                     "callvault_journal_segments", "callvault_unmatched_rtp_packets_total", "callvault_uptime_seconds",
                     "callvault_start_time_seconds"):
            metric(samples, name)
        expect(True, "index queue, journal, unmatched RTP, uptime and start time are exposed")
        expect(metric(samples, "callvault_index_enabled") == 0, "callvault_index_enabled 0 with --no-db")
        expect(metric(samples, "callvault_drops_total", source="kernel") == 0 and
               metric(samples, "callvault_drops_total", source="interface") == 0, "no drops from a file")
        expect(metric(samples, "callvault_up") == 1 and metric(samples, "callvault_healthy") == 1, "up and healthy")
        start = metric(samples, "callvault_start_time_seconds")
        expect(abs(start - time.time()) < 120, "start time is now-ish")
        check_disk(samples, str(out))

        status, _, body = http(addr, "/status")
        doc = json.loads(body)
        expect(status == 200 and doc["mode"] == "replay" and doc["healthy"] is True, "GET /status: a replay, healthy")
        expect(doc["packets"] >= packets[-1], "GET /status packets as /metrics")
        expect(http(addr, "/nope")[0] == 404, "GET /nope: 404")
        expect(http(addr, "/metrics", "POST")[0] == 405, "POST /metrics: 405")

        p = status_cmd(addr)
        expect(p.returncode == 0, "callvault status: exit 0 while running and healthy", p.stdout + p.stderr)
        for want in ("healthy", "packets:", "calls:", "drops:", "disk:", "replay of"):
            expect(want in p.stdout, "callvault status prints %r" % want, p.stdout)
        p = status_cmd(addr, "--json")
        expect(p.returncode == 0 and json.loads(p.stdout)["up"] is True, "callvault status --json: the document")

        # Another recorder asking for the same address must not start half-blind.
        p = run_unchecked([CALLVAULT, "replay", "--no-db", "--out", str(work / "rec2"), "--status-listen", addr, str(pcap)])
        expect(p.returncode == 2 and addr in p.stderr and "in use" in p.stderr,
               "a second recorder on %s exits 2 naming the address" % addr, p.stderr)
        p = run_unchecked([CALLVAULT, "replay", "--no-db", "--status-listen", "0.0.0.0:9477", str(pcap)])
        expect(p.returncode == 2 and "loopback" in p.stderr, "--status-listen 0.0.0.0:... refused (exit 2)", p.stderr)

        feeder.release.set()
        rc = proc.wait(timeout=60)
        expect(rc == 0, "the replay ends (exit 0) when the pipe closes", err.read_text()[-2000:])
        calls = [json.loads(l) for l in (work / "replay.json").read_text().splitlines() if l.strip()]
        expect(len(calls) == 3, "all 3 calls recorded")
        p = status_cmd(addr)
        expect(p.returncode == 3 and addr in p.stderr and "not running" in p.stderr,
               "callvault status: exit 3 naming %s once the recorder is gone" % addr, p.stderr)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if "feeder" in locals():
            feeder.release.set()


def test_journal(work: Path) -> None:
    pcap = generate(work, 2, 2, 3)
    data = work / "data"
    config = work / "callvault.toml"
    # Port 1 on loopback: refused at once, so the database is simply unreachable.
    config.write_text(
        '[storage]\ndata_dir = "%s"\n[database]\nurl = "host=127.0.0.1 port=1 dbname=callvault user=callvault_writer"\n'
        'connect_timeout_s = 1\nwait_at_exit_s = 0\n[status]\nmin_free_mb = 0\n' % data)
    fifo = work / "feed.pcap"
    os.mkfifo(fifo)
    proc, addr, err = start_replay(work, "journal", ["--config", str(config)], [], fifo)
    feeder = PacedPipe(fifo, pcap, paced=False, hold_open=True)
    try:
        deadline = time.time() + 30
        while True:
            samples = scrape(addr)
            if metric(samples, "callvault_journal_records") > 0 and metric(samples, "callvault_packets_total") > 0:
                break
            if time.time() > deadline or proc.poll() is not None:
                raise Failure("no journal records after 30 s:\n" + err.read_text()[-2000:])
            time.sleep(0.3)
        expect(metric(samples, "callvault_index_enabled") == 1, "callvault_index_enabled 1")
        expect(metric(samples, "callvault_index_database_up") == 0, "callvault_index_database_up 0")
        journal = data / "journal"
        # The writer may journal one more batch (a coverage row) meanwhile:
        # compare when two scrapes around the listing agree.
        for _ in range(20):
            before = scrape(addr)
            segments = sorted(journal.glob("*.jsonl"))
            lines = sum(len(p.read_bytes().splitlines()) for p in segments)
            size = sum(p.stat().st_size for p in segments)
            samples = scrape(addr)
            if all(metric(before, n) == metric(samples, n) for n in
                   ("callvault_journal_segments", "callvault_journal_records", "callvault_journal_bytes")):
                break
            time.sleep(0.5)
        expect(metric(samples, "callvault_journal_segments") == len(segments),
               "callvault_journal_segments = the %d segment files" % len(segments))
        expect(metric(samples, "callvault_journal_records") == lines, "callvault_journal_records = their %d lines" % lines)
        expect(metric(samples, "callvault_journal_bytes") == size, "callvault_journal_bytes = their %d bytes" % size)
        expect(metric(samples, "callvault_healthy") == 0, "callvault_healthy 0")
        check_disk(samples, str(data / "audio"))
        check_disk(samples, str(journal))
        p = status_cmd(addr)
        expect(p.returncode == 1, "callvault status: exit 1 (unhealthy)", p.stdout + p.stderr)
        expect("UNHEALTHY" in p.stdout and "unreachable" in p.stdout, "... saying the database is unreachable", p.stdout)
    finally:
        feeder.release.set()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    expect(proc.returncode == 3, "the replay exits 3 (records wait in the journal)", err.read_text()[-1500:])


def test_live(work: Path) -> None:
    if os.geteuid() != 0:
        raise Skip("needs root (network namespaces, veth, packet capture)")
    for tool in ("ip", "tcpreplay"):
        if not shutil.which(tool):
            raise Skip("%s is not installed (deploy/install-deps.sh)" % tool)
    pcap = generate(work, 2, 2, 4)
    a, b = "cvs%da" % os.getpid(), "cvs%db" % os.getpid()
    made: list[str] = []
    proc = None
    try:
        for ns in (a, b):
            p = run_unchecked(["ip", "netns", "add", ns])
            if p.returncode != 0:
                raise Skip("network namespaces unavailable: " + p.stderr.strip())
            made.append(ns)
        ex = {ns: ["ip", "netns", "exec", ns] for ns in (a, b)}
        for cmd in (["ip", "link", "add", "vethA", "netns", a, "type", "veth", "peer", "name", "vethB", "netns", b],
                    ex[a] + ["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"],
                    ex[b] + ["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"],
                    ex[a] + ["ip", "link", "set", "vethA", "mtu", "9000", "up"],
                    ex[b] + ["ip", "link", "set", "vethB", "mtu", "9000", "up"],
                    # The endpoint listens on the namespace's own loopback.
                    ex[b] + ["ip", "link", "set", "lo", "up"]):
            p = run_unchecked(cmd)
            if p.returncode != 0:
                raise Failure("%s: %s" % (" ".join(cmd), p.stderr))
        time.sleep(0.5)
        err = work / "capture.err"
        proc = subprocess.Popen(ex[b] + [CALLVAULT, "capture", "--interface", "vethB", "--no-db", "--json", "--out",
                                         str(work / "live"), "--status-listen", "127.0.0.1:0", "--timeout-ms", "100"],
                                stdout=open(work / "capture.json", "w"), stderr=open(err, "w"))
        deadline = time.time() + 20
        while "capturing on" not in err.read_text():
            if proc.poll() is not None or time.time() > deadline:
                raise Failure("capture did not start:\n" + err.read_text())
            time.sleep(0.05)
        m = re.search(r"status endpoint: http://(\S+)/metrics", err.read_text())
        expect(m is not None, "capture logs its endpoint", err.read_text())
        addr = m.group(1)
        scraper = ex[b] + [sys.executable, "-c",
                           "import sys,urllib.request;sys.stdout.write(urllib.request.urlopen("
                           "'http://%s/metrics',timeout=5).read().decode())" % addr]
        replay = subprocess.Popen(ex[a] + ["tcpreplay", "-i", "vethA", str(pcap)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        packets, max_active = [], 0
        samples: dict[tuple, float] = {}
        while replay.poll() is None:
            p = run_unchecked(scraper, timeout=30)
            if p.returncode != 0:
                raise Failure("scrape inside the namespace failed: " + p.stderr)
            samples = parse_exposition(p.stdout)
            packets.append(metric(samples, "callvault_packets_total"))
            max_active = max(max_active, metric(samples, "callvault_active_calls"))
            time.sleep(0.3)
        expect(replay.returncode == 0, "tcpreplay played the capture")
        expect(len(set(packets)) >= 3 and packets == sorted(packets), "callvault_packets_total rises (%s)" % packets)
        expect(max_active > 0, "callvault_active_calls > 0 during the calls (max %d)" % max_active)
        info = [k for k in samples if k[0] == "callvault_info"]
        expect(info and ("mode", "live") in info[0][1] and ("source", "vethB") in info[0][1], "callvault_info: live on vethB")
        time.sleep(1.0)  # the last batch is read within the timeout
        p = status_cmd(addr, prefix=ex[b])
        expect(p.returncode == 0 and "live capture on vethB" in p.stdout, "callvault status: exit 0, live",
               p.stdout + p.stderr)
        p = status_cmd(addr, "--json", prefix=ex[b])
        doc = json.loads(p.stdout)
        expect(doc["drops"]["kernel"] == 0 and doc["packets"] >= packets[-1], "no drops; packets as scraped")
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
        expect(rc == 0, "capture stops on SIGTERM (exit 0) with its endpoint", err.read_text()[-1500:])
        p = status_cmd(addr, prefix=ex[b])
        expect(p.returncode == 3, "callvault status: exit 3 after the recorder stopped", p.stderr)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        for ns in reversed(made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


TESTS = {"replay": test_replay, "journal": test_journal, "live": test_live}


def prerequisites(names: list[str]) -> None:
    if not CALLVAULT or not GEN:
        raise Failure("CALLVAULT_BIN and CALLVAULT_GEN must name the binaries")


def main() -> int:
    return run_named_tests(TESTS, sys.argv[1:], "cv-status", prerequisites)


if __name__ == "__main__":
    sys.exit(main())
