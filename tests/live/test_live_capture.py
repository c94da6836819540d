#!/usr/bin/python3
"""Live capture end to end: `callvault capture` on one end of a veth pair while
tcpreplay plays captures onto the other end, compared with `callvault replay`
of the same files.

Contract:
  env CALLVAULT_BIN   the callvault binary
  env CALLVAULT_GEN   the callvault-gen binary (makes captures)
  env CALLVAULT_PCAPS the real captures (default <repo>/../shared/pcaps)
  root, ip (iproute2), tcpreplay; psql and PostgreSQL for `index`.

The network: two network namespaces made for the test, cvl<pid><test>a and
...b, and a veth pair created straight into them (vethA in a, vethB in b).
Nothing is added to the host's namespace; neither end has an address, IPv6
is disabled in both (no router solicitations or DAD), so there is no route
anywhere and nothing but the replayed frames crosses the pair. Both
namespaces (and with them the pair) are deleted in a finally block.

  test_live_capture.py [own_pace] [top_speed] [errors] [index]   (default: all)

own_pace   real and generated captures at their own pace: the same calls,
           streams (SSRC, packets, loss, duplicates), DTMF, and per channel
           the same audio samples as offline replay; no drops.
top_speed  a generated capture of many concurrent calls with --topspeed into a
           small ring buffer: either exactly what offline replay sees, or
           drops reported (statistics) and every missing packet accounted for.
errors     no such interface, interface down, bad filter, no CAP_NET_RAW: each
           named, exit 2; SIGHUP reloads office numbers (direction) and the
           log level; SIGTERM exits 0 with open calls ended as capture_end.
index      a stalled capture into the embedded PostgreSQL: the session row
           (kind live) and the per-minute coverage rows carry the drops, and
           audit.coverage_gaps shows them (R1).

Standard library only. Exit 0 when every test passed, 1 when one failed, 77
(ctest SKIP) when not root or namespaces are unavailable, except with CI=true,
where that is a failure.
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
import tempfile
import time
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/harness.py
from harness import CI, Failure, Skip, expect, run, run_named_tests  # noqa: E402

CALLVAULT = os.environ.get("CALLVAULT_BIN", "")
GEN = os.environ.get("CALLVAULT_GEN", "")
REPO = Path(__file__).resolve().parents[2]
PCAPS = Path(os.environ.get("CALLVAULT_PCAPS") or REPO.parent / "shared" / "pcaps")

# Short real captures with SIP/UDP, SDP-bound RTP, one SSRC per direction,
# Ethernet frames of at most 1514 bytes (MANIFEST.md rows 1, 2, 5).
REAL_OWN_PACE = ["sip-rtp-g711.pcap", "sip-rtp-g722.pcap", "rtp-protocol.pcap"]
# Generated cases (callvault-gen --list): two-way G.711 and G.722, RFC 4733 DTMF.
GEN_OWN_PACE = ["basic_pcmu", "g722", "dtmf_rfc4733", "reorder"]


# ---------------------------------------------------------------------------
# The network: two namespaces joined by a veth pair
# ---------------------------------------------------------------------------


class Net:
    def __init__(self, tag: str):
        self.a = "cvl%d%sa" % (os.getpid(), tag)
        self.b = "cvl%d%sb" % (os.getpid(), tag)
        self.made: list[str] = []

    def __enter__(self) -> "Net":
        try:
            for ns in (self.a, self.b):
                run(["ip", "netns", "add", ns])
                self.made.append(ns)
            # Created inside the namespaces: no moment in the host's namespace.
            run(["ip", "link", "add", "vethA", "netns", self.a, "type", "veth", "peer", "name", "vethB", "netns", self.b])
            for ns, dev in ((self.a, "vethA"), (self.b, "vethB")):
                self.ns(ns, ["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"])
                self.ns(ns, ["ip", "link", "set", dev, "mtu", "9000", "up"])
            for ns in (self.a, self.b):
                for fam in ("-4", "-6"):
                    routes = self.ns(ns, ["ip", fam, "route", "show", "table", "all"], check=False).stdout.strip()
                    if routes:
                        raise Failure("namespace %s has routes: %s" % (ns, routes))
                addrs = self.ns(ns, ["ip", "-o", "addr", "show"]).stdout.strip()
                if addrs:
                    raise Failure("namespace %s has addresses: %s" % (ns, addrs))
            host = run(["ip", "-o", "link", "show"]).stdout
            if re.search(r"\bveth[AB]\b", host):
                raise Failure("a test interface appeared in the host's namespace")
            # veth carries the link state over once both ends are up.
            for _ in range(50):
                if "state UP" in self.ns(self.b, ["ip", "link", "show", "vethB"]).stdout:
                    break
                time.sleep(0.1)
        except Failure as e:
            self.__exit__(None, None, None)
            if not CI and "netns" in str(e) and not self.made:
                raise Skip("network namespaces unavailable: %s" % e)
            raise
        return self

    def ns(self, ns: str, cmd: list[str], **kw) -> subprocess.CompletedProcess:
        return run(["ip", "netns", "exec", ns] + cmd, **kw)

    def __exit__(self, *exc) -> None:
        for ns in reversed(self.made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.made.clear()


# ---------------------------------------------------------------------------
# callvault capture in namespace b, tcpreplay in namespace a
# ---------------------------------------------------------------------------


class Capture:
    def __init__(self, net: Net, work: Path, name: str, extra: list[str] | None = None, pre: list[str] | None = None):
        self.out = work / ("live-" + name)
        self.stdout = open(work / ("live-%s.json" % name), "w+")
        self.stderr_path = work / ("live-%s.err" % name)
        self.stderr = open(self.stderr_path, "w+")
        files = ["--no-db", "--out", str(self.out)] if "--data-dir" not in (pre or []) else []
        # Both ends run at a higher priority than anything else on the machine
        # (nice -15): placement in the WAV follows arrival times, and a replay
        # or capture starved by other work for a second shifts the audio.
        cmd = ["nice", "-n", "-15", "ip", "netns", "exec", net.b, CALLVAULT] + (pre or []) + [
            "capture", "--interface", "vethB", "--json"] + files + (extra or [])
        self.proc = subprocess.Popen(cmd, stdout=self.stdout, stderr=self.stderr)
        deadline = time.time() + 15
        while "capturing on" not in self.err():
            if self.proc.poll() is not None or time.time() > deadline:
                self.kill()
                raise Failure("callvault capture did not start:\n" + self.err())
            time.sleep(0.05)

    def err(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, settle: float = 1.5) -> tuple[int, list[dict], str]:
        time.sleep(settle)  # the last block reaches callvault within its timeout
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Failure("callvault capture did not stop within 120 s of SIGTERM")
        self.stdout.seek(0)
        calls = [json.loads(l) for l in self.stdout.read().splitlines() if l.strip()]
        return rc, calls, self.err()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def tcpreplay(net: Net, pcap: Path, topspeed: bool = False) -> dict:
    cmd = ["nice", "-n", "-15", "tcpreplay", "-i", "vethA"] + (["--topspeed"] if topspeed else []) + [str(pcap)]
    p = net.ns(net.a, cmd, timeout=300)
    stats = {}
    for key, pat in (("sent", r"Successful packets:\s+(\d+)"), ("failed", r"Failed packets:\s+(\d+)"),
                     ("retried", r"Retried packets \(ENOBUFS\):\s+(\d+)")):
        m = re.search(pat, p.stdout)
        if not m:
            raise Failure("tcpreplay output without '%s':\n%s" % (pat, p.stdout))
        stats[key] = int(m.group(1))
    return stats


def offline(pcap: Path, out: Path, extra: list[str] | None = None) -> tuple[list[dict], str]:
    p = run([CALLVAULT, "replay", "--no-db", "--json", "--out", str(out)] + (extra or []) + [str(pcap)], timeout=300)
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()], p.stderr


def pcap_frames(path: Path) -> tuple[int, int]:
    """Frames and the largest frame of a classic pcap file."""
    data = path.read_bytes()
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        endian = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        endian = ">"
    else:
        raise Failure("%s is not a classic pcap file" % path)
    off, n, biggest = 24, 0, 0
    while off + 16 <= len(data):
        caplen = struct.unpack(endian + "I", data[off + 8:off + 12])[0]
        off += 16 + caplen
        n += 1
        biggest = max(biggest, caplen)
    return n, biggest


def stat(report: str, name: str) -> int:
    m = re.search(r"^\s*%s:\s+(\d+)" % re.escape(name), report, re.M)
    if not m:
        raise Failure("statistics without '%s':\n%s" % (name, report[-3000:]))
    return int(m.group(1))


# ---------------------------------------------------------------------------
# Comparison with offline replay
# ---------------------------------------------------------------------------


def call_key(c: dict) -> tuple:
    return (c["sip_call_id"], c["caller"], c["callee"])


def call_view(c: dict) -> dict:
    """What must not depend on when the packets arrived."""
    return {
        "end_reason": c["end_reason"], "direction": c["direction"], "answered": c["answered"],
        "final_status": c["final_status"], "codecs": c["codecs"], "sample_rate": c["sample_rate"],
        "has_audio": c["audio"] is not None,
        "dtmf": [d.get("digit") for d in c["dtmf"]],
        "streams": sorted((s["ssrc"], s["src"], s["dst"], s["codec"], s["channel"], s["packets"], s["lost"],
                           s["duplicates"]) for s in c["streams"]),
    }


def by_key(calls: list[dict]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for c in calls:
        out.setdefault(call_key(c), []).append(c)
    for v in out.values():
        v.sort(key=lambda c: c["start"])
    return out


def channels(path: Path) -> list[list[int]]:
    with wave.open(str(path), "rb") as w:
        n, width, ch = w.getnframes(), w.getsampwidth(), w.getnchannels()
        raw = w.readframes(n)
    if width != 2:
        raise Failure("%s: %d-byte samples" % (path, width))
    samples = struct.unpack("<%dh" % (len(raw) // 2), raw)
    return [list(samples[i::ch]) for i in range(ch)]


def trimmed(x: list[int]) -> list[int]:
    # Where a channel starts in the file is capture time (one sample is
    # 125 µs at 8 kHz: live arrival jitter may move the later channel by a
    # sample); what the channel contains is RTP time and payload only.
    i, j = 0, len(x)
    while i < j and x[i] == 0:
        i += 1
    while j > i and x[j - 1] == 0:
        j -= 1
    return x[i:j]


def compare_audio(name: str, live: dict, live_dir: Path, ref: dict, ref_dir: Path) -> None:
    lw, rw = live_dir / live["audio"], ref_dir / ref["audio"]
    lc, rc = channels(lw), channels(rw)
    expect(len(lc) == len(rc), "%s %s: %d channels in both" % (name, ref["sip_call_id"], len(rc)))
    for i, (l, r) in enumerate(zip(lc, rc)):
        lt, rt = trimmed(l), trimmed(r)
        if lt != rt:
            first = next((k for k, (a, b) in enumerate(zip(lt, rt)) if a != b), min(len(lt), len(rt)))
            raise Failure("%s %s channel %d: live audio differs from offline replay (%d vs %d samples, first "
                          "difference at %d)" % (name, ref["sip_call_id"], i, len(lt), len(rt), first))
    same_file = lw.read_bytes()[44:] == rw.read_bytes()[44:]
    expect(True, "%s %s: %d+%d samples identical per channel%s" % (
        name, ref["sip_call_id"], len(trimmed(rc[0])), len(trimmed(rc[1])) if len(rc) > 1 else 0,
        " (whole WAV data identical)" if same_file else " (channel offsets differ by arrival jitter)"))


def compare_exact(name: str, live: list[dict], live_dir: Path, ref: list[dict], ref_dir: Path,
                  audio: bool) -> None:
    lk, rk = by_key(live), by_key(ref)
    expect(sorted(lk) == sorted(rk), "%s: the same %d calls (Call-ID, caller, callee)" % (name, len(ref)),
           "live %s\noffline %s" % (sorted(lk), sorted(rk)))
    for key, refs in rk.items():
        lives = lk[key]
        expect(len(lives) == len(refs), "%s %s: %d dialog(s)" % (name, key[0], len(refs)))
        for l, r in zip(lives, refs):
            lv, rv = call_view(l), call_view(r)
            expect(lv == rv, "%s %s: same streams (SSRC, packets, loss, duplicates), codecs, DTMF, end %s" % (
                name, key[0], rv["end_reason"]), "live    %s\noffline %s" % (lv, rv))
            if audio and r["audio"] is not None:
                compare_audio(name, l, live_dir, r, ref_dir)


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------


def generate(work: Path, case: str) -> Path:
    out = work / "gen"
    run([GEN, "--case", case, "--out", str(out)], timeout=300)
    p = out / (case + ".pcap")
    if not p.exists():
        raise Failure("callvault-gen wrote no %s" % p)
    return p


def test_own_pace(work: Path) -> None:
    inputs: list[tuple[str, Path]] = []
    for name in REAL_OWN_PACE:
        p = PCAPS / name
        if not p.exists():
            if CI:
                raise Failure("capture %s missing (CALLVAULT_PCAPS)" % p)
            print("  note  %s missing, not played" % p)
            continue
        inputs.append((name, p))
    for case in GEN_OWN_PACE:
        inputs.append((case, generate(work, case)))
    with Net("o") as net:
        for name, pcap in inputs:
            frames, biggest = pcap_frames(pcap)
            if biggest > 9014:
                raise Failure("%s has a %d-byte frame, more than the veth MTU" % (name, biggest))
            ref, _ = offline(pcap, work / ("ref-" + name))
            cap = Capture(net, work, name)
            try:
                sent = tcpreplay(net, pcap)
                rc, live, err = cap.stop()
            finally:
                cap.kill()
            expect(rc == 0, "%s: capture exits 0 on SIGTERM" % name, err[-3000:])
            expect(sent["sent"] == frames and sent["failed"] == 0, "%s: tcpreplay sent all %d frames" % (name, frames),
                   str(sent))
            drops = stat(err, "kernel drops") + stat(err, "interface drops")
            captured = stat(err, "packets")
            expect(drops == 0 and captured == frames,
                   "%s: captured %d of %d frames, no drops" % (name, captured, frames), err[-3000:])
            compare_exact(name, live, cap.out, ref, work / ("ref-" + name), audio=True)


def check_drops_accounted(name: str, frames: int, live: list[dict], ref: list[dict], err: str) -> int:
    """Every frame not captured reported as dropped; missing RTP within the drops."""
    kernel, iface, captured = stat(err, "kernel drops"), stat(err, "interface drops"), stat(err, "packets")
    drops = kernel + iface
    print("  info  %s: captured %d of %d frames; kernel drops %d, interface drops %d" % (
        name, captured, frames, kernel, iface))
    expect(captured <= frames, "%s: nothing captured that was not sent" % name)
    expect(captured + drops >= frames, "%s: every frame not captured is reported as dropped (%d missing, %d reported)"
           % (name, frames - captured, drops), err[-3000:])
    if drops == 0:
        return 0
    expect(re.search(r"dropped \d+ packets", err) is not None, "%s: the drops were logged" % name)
    rk, lk = by_key(ref), by_key(live)
    missing = 0
    for key, refs in rk.items():
        lives = lk.get(key, [])
        expect(len(lives) <= len(refs), "%s %s: no extra dialogs" % (name, key[0]))
        lstreams: dict[tuple, int] = {}
        for c in lives:
            for s in c["streams"]:
                k = (s["ssrc"], s["src"], s["dst"])
                lstreams[k] = lstreams.get(k, 0) + s["packets"]
        for c in refs:
            for s in c["streams"]:
                got = lstreams.get((s["ssrc"], s["src"], s["dst"]), 0)
                if got > s["packets"]:
                    raise Failure("%s %s: stream %s has %d packets live, %d offline" % (
                        name, key[0], s["ssrc"], got, s["packets"]))
                missing += s["packets"] - got
    expect(missing <= drops, "%s: %d RTP packets missing, all within the %d drops reported" % (name, missing, drops))
    return drops


def test_top_speed(work: Path) -> None:
    pcap = work / "bench.pcap"
    # 120 calls of 15 s, 40 at a time, both directions: ~180,000 RTP packets.
    run([GEN, "--bench-calls", "120", "--concurrent", "40", "--seconds", "15", "--out", str(pcap)], timeout=300)
    frames, _ = pcap_frames(pcap)
    ref, _ = offline(pcap, work / "ref-bench")
    expect(len(ref) == 120, "offline replay of the bench capture: 120 calls")
    with Net("t") as net:
        # A small ring (2 MiB) so that a slow moment shows up as drops.
        cap = Capture(net, work, "bench", extra=["--buffer-mb", "2", "--stats-interval", "1"])
        try:
            t0 = time.time()
            sent = tcpreplay(net, pcap, topspeed=True)
            took = time.time() - t0
            rc, live, err = cap.stop(settle=3)
        finally:
            cap.kill()
    expect(rc == 0, "top speed: capture exits 0 on SIGTERM", err[-3000:])
    expect(sent["failed"] == 0 and sent["sent"] == frames,
           "top speed: tcpreplay sent %d frames in %.1f s (%.0f/s)" % (frames, took, frames / max(took, 1e-3)),
           str(sent))
    if check_drops_accounted("top speed", frames, live, ref, err) == 0:
        # Audio is laid out by capture time, which top speed compresses, so
        # only what does not depend on arrival times is compared here.
        compare_exact("top speed", live, cap.out, ref, work / "ref-bench", audio=False)

    # A recorder that cannot keep up at all: stopped (SIGSTOP) while the same
    # capture is played at top speed into the 2 MiB ring. The kernel must
    # drop most of it, and callvault must say so: counted, logged, accounted.
    with Net("s") as net:
        cap = Capture(net, work, "stalled", extra=["--buffer-mb", "2", "--stats-interval", "1"])
        try:
            cap.signal(signal.SIGSTOP)
            sent = tcpreplay(net, pcap, topspeed=True)
            cap.signal(signal.SIGCONT)
            rc, live, err = cap.stop(settle=3)
        finally:
            cap.kill()
    expect(rc == 0, "stalled: capture exits 0 on SIGTERM", err[-3000:])
    expect(sent["sent"] == frames, "stalled: tcpreplay sent %d frames" % frames, str(sent))
    drops = check_drops_accounted("stalled", frames, live, ref, err)
    expect(drops > 0, "stalled: a stopped recorder reports kernel drops", err[-3000:])


def test_errors(work: Path) -> None:
    with Net("e") as net:
        def capture_rc(args: list[str], prefix: list[str] | None = None) -> tuple[int, str]:
            p = net.ns(net.b, (prefix or []) + [CALLVAULT, "capture", "--no-db", "--out", str(work / "err")] + args,
                       check=False, timeout=60)
            return p.returncode, p.stderr

        rc, err = capture_rc(["--interface", "nosuch0"])
        expect(rc == 2 and "nosuch0" in err and "no such network interface" in err,
               "no such interface: named, exit 2", err)
        net.ns(net.b, ["ip", "link", "set", "vethB", "down"])
        rc, err = capture_rc(["--interface", "vethB"])
        expect(rc == 2 and "vethB" in err and "is down" in err, "interface down: named, exit 2", err)
        net.ns(net.b, ["ip", "link", "set", "vethB", "up"])
        rc, err = capture_rc(["--interface", "vethB", "--filter", "udp and port"])
        expect(rc == 2 and "--filter" in err and "BPF" in err, "bad filter: named, exit 2", err)
        if shutil.which("setpriv"):
            rc, err = capture_rc(["--interface", "vethB"], prefix=["setpriv", "--reuid=65534", "--regid=65534",
                                                                  "--clear-groups", "--inh-caps=-all"])
            expect(rc == 2 and "permission" in err and "CAP_NET_RAW" in err,
                   "no CAP_NET_RAW: permission named, exit 2", err)

        # SIGHUP: office numbers (direction) and log level from the file.
        pcap = generate(work, "basic_pcmu")
        ref, _ = offline(pcap, work / "ref-hup")
        callee = re.sub(r"\D", "", ref[0]["callee"])
        ref_in, _ = offline(pcap, work / "ref-hup-in", ["--office-numbers", callee])
        expect(ref[0]["direction"] != ref_in[0]["direction"], "the callee's number changes the direction offline")
        conf = work / "hup.toml"
        conf.write_text('[office]\nnumbers = ["999999"]\n')
        cap = Capture(net, work, "hup", pre=["--config", str(conf)])
        try:
            conf.write_text('[recorder]\nlog_level = "debug"\n[office]\nnumbers = ["%s"]\n[capture]\nbuffer_mb = 8\n'
                            % callee)
            cap.signal(signal.SIGHUP)
            deadline = time.time() + 10
            while "SIGHUP: office numbers now" not in cap.err() and time.time() < deadline:
                time.sleep(0.1)
            err = cap.err()
            expect("SIGHUP: office numbers now [%s]" % callee in err, "SIGHUP reloads the office numbers", err)
            expect("SIGHUP: log level info -> debug" in err, "SIGHUP reloads the log level", err)
            expect(re.search(r"restart: .*capture\.buffer_mb", err) is not None,
                   "SIGHUP names what needs a restart", err)
            conf.write_text('[office]\nnumbers = ["not a number"]\n')
            cap.signal(signal.SIGHUP)
            deadline = time.time() + 10
            while "configuration not reloaded" not in cap.err() and time.time() < deadline:
                time.sleep(0.1)
            expect("configuration not reloaded" in cap.err(), "SIGHUP with a broken file keeps the running one",
                   cap.err())
            # Half a call, then SIGTERM: it ends as capture_end.
            frames, _ = pcap_frames(pcap)
            half = work / "half.pcap"
            data = pcap.read_bytes()
            off, n = 24, 0
            while n < frames // 2:
                caplen = struct.unpack("<I", data[off + 8:off + 12])[0]
                off += 16 + caplen
                n += 1
            half.write_bytes(data[:off])
            tcpreplay(net, half)
            rc, live, err = cap.stop()
        finally:
            cap.kill()
        expect(rc == 0, "SIGTERM: exit 0", err[-2000:])
        expect(len(live) == 1 and live[0]["end_reason"] == "capture_end",
               "SIGTERM: the open call is finished with end reason capture_end", json.dumps(live)[:2000])
        expect(live[0]["direction"] == ref_in[0]["direction"],
               "the reloaded office numbers classify the call (%s)" % ref_in[0]["direction"])
        if live[0]["audio"]:
            w = cap.out / live[0]["audio"]
            expect(w.exists() and w.stat().st_size > 44, "SIGTERM: the open call's WAV is complete on disk")


def test_index(work: Path) -> None:
    """R1 in the index: a live session row and coverage rows carrying the drops."""
    data = Path(tempfile.mkdtemp(prefix="cv-live-db-", dir="/tmp"))
    os.chmod(data, 0o755)  # the embedded cluster runs as `postgres` when we are root
    pcap = work / "bench.pcap"
    run([GEN, "--bench-calls", "40", "--concurrent", "20", "--seconds", "10", "--out", str(pcap)], timeout=300)
    frames, _ = pcap_frames(pcap)
    try:
        run([CALLVAULT, "--data-dir", str(data), "db", "start"], timeout=300)
        with Net("i") as net:
            cap = Capture(net, work, "index", pre=["--data-dir", str(data)],
                          extra=["--buffer-mb", "1", "--stats-interval", "1"])
            # Capture writes no files of its own with the index: drop --no-db/--out.
            try:
                cap.signal(signal.SIGSTOP)
                tcpreplay(net, pcap, topspeed=True)
                cap.signal(signal.SIGCONT)
                rc, live, err = cap.stop(settle=3)
            finally:
                cap.kill()
        expect(rc == 0, "index: capture exits 0 on SIGTERM", err[-3000:])
        kernel, iface, captured = stat(err, "kernel drops"), stat(err, "interface drops"), stat(err, "packets")
        expect(kernel > 0 and captured + kernel + iface >= frames, "index: %d kernel drops reported" % kernel)
        url = run([CALLVAULT, "--data-dir", str(data), "db", "url", "--role", "admin"]).stdout.strip()
        q = run(["psql", "-XAt", "-F", "|", url, "-c",
                 "SELECT kind, source, stop_reason, packets, kernel_drops, interface_drops, stopped_at IS NOT NULL "
                 "FROM callvault.capture_sessions", "-c",
                 "SELECT count(*), sum(packets), sum(kernel_drops), sum(interface_drops) "
                 "FROM callvault.coverage_intervals", "-c",
                 "SELECT count(*) FROM audit.coverage_gaps WHERE kind = 'packet_drops'"]).stdout.split()
        expect(q[0] == "live|vethB|signal|%d|%d|%d|t" % (captured, kernel, iface),
               "index: the session row is kind live, stopped by the signal, with the drops", str(q))
        n, packets, kd, idrop = q[1].split("|")
        expect(int(n) >= 1 and int(packets) == captured and int(kd) == kernel and int(idrop) == iface,
               "index: coverage rows add up to the %d packets and %d drops" % (captured, kernel), str(q))
        expect(int(q[2]) >= 1, "index: audit.coverage_gaps shows the drops to auditors", str(q))
    finally:
        subprocess.run([CALLVAULT, "--data-dir", str(data), "db", "stop"], capture_output=True, timeout=120)
        shutil.rmtree(data, ignore_errors=True)


TESTS = {"own_pace": test_own_pace, "top_speed": test_top_speed, "errors": test_errors, "index": test_index}


def prerequisites(names: list[str]) -> None:
    if not CALLVAULT or not GEN:
        raise Failure("CALLVAULT_BIN and CALLVAULT_GEN must name the binaries")
    if os.geteuid() != 0:
        raise Skip("needs root (network namespaces, veth, packet capture)")
    for tool in ("ip", "tcpreplay") + (("psql",) if "index" in names else ()):
        if not shutil.which(tool):
            raise Skip("%s is not installed (deploy/install-deps.sh)" % tool)
    probe = subprocess.run(["ip", "netns", "add", "cvlprobe%d" % os.getpid()], capture_output=True, text=True)
    if probe.returncode != 0:
        raise Skip("network namespaces unavailable: " + probe.stderr.strip())
    subprocess.run(["ip", "netns", "del", "cvlprobe%d" % os.getpid()], capture_output=True)


def main() -> int:
    return run_named_tests(TESTS, sys.argv[1:], "cv-live", prerequisites, keep_env="CVLIVE_KEEP")


if __name__ == "__main__":
    sys.exit(main())
