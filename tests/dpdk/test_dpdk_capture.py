#!/usr/bin/python3
"""The DPDK capture backend end to end, without a NIC: DPDK's pcap poll-mode
driver (net_pcap) reads a capture file as a virtual port, `callvault capture
--backend dpdk` records from that port, and the result is compared with
`callvault replay` of the same file.

Contract:
  env CALLVAULT_BIN   the callvault binary
  env CALLVAULT_GEN   the callvault-gen binary (makes captures)
  env CALLVAULT_PCAPS the real captures (default <repo>/../shared/pcaps)
  capinfos and editcap (wireshark-common, with tshark) for microsecond copies of
                      nanosecond captures

The EAL runs with --no-huge --no-pci --no-shconf --no-telemetry -l 0 (no
hugepages, no PCI scan, no files shared with other DPDK processes, one lcore):
this needs neither a NIC nor hugepages nor a bound driver.

  test_dpdk_capture.py [identical] [jumbo] [errors]   (default: all)

identical  every real capture with Ethernet frames, and every generated case:
           the same calls (JSON lines identical but for nothing) and
           byte-identical recordings (sha256 per file, same names) through DPDK
           and through replay. net_pcap stamps each mbuf with the frame's time
           from the file, and callvault keeps that timeline (time moves only with
           the frames, as in replay), so nothing depends on when frames arrived.
           Captures with other link types (Linux cooked, BSD loopback, raw IP)
           cannot be compared: a DPDK port delivers Ethernet frames and net_pcap
           hands on the file's bytes whatever their link type; two of them are
           run to show that such input is counted as malformed, never a crash.
jumbo      a generated call whose fragmented INVITEs are rewritten as single
           jumbo frames (2.2 kB IPv4, 3.9 kB IPv6): longer than one mbuf, so
           net_pcap delivers them as mbuf chains and callvault's copy of a chain
           is exercised; again byte-identical to replay.
errors     no port (EAL without a device), an unknown port name, bad EAL
           arguments, an unterminated quote, a file that is no capture: each
           named, exit 2. An idle port is not busy-polled (CPU time while idle),
           SIGINT stops it with exit 0; more queues than the device has are
           clamped; --filter applies a BPF filter in user space.

Standard library only. Exit 0 when every test passed, 1 when one failed, 77
(ctest SKIP) when this callvault has no DPDK support or the EAL cannot start
here, except with CI=true, where that is a failure.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/harness.py
from harness import CI, Failure, Skip, expect, run, run_named_tests  # noqa: E402

CALLVAULT = os.environ.get("CALLVAULT_BIN", "")
GEN = os.environ.get("CALLVAULT_GEN", "")
REPO = Path(__file__).resolve().parents[2]
PCAPS = Path(os.environ.get("CALLVAULT_PCAPS") or REPO.parent / "shared" / "pcaps")

EAL = "-l 0 --no-huge --no-pci --no-shconf --no-telemetry"
# Link types other than Ethernet: not comparable through a DPDK port (see above).
NOT_ETHERNET_SAMPLES = ["speech_8k_ulaw.pcap", "h263-over-rtp.pcap"]
PROGRESS = re.compile(r"(\d+) frames received, (\d+) handed to the pipeline")


def stat(report: str, name: str) -> int:
    m = re.search(r"^\s*%s:\s+(\d+)" % re.escape(name), report, re.M)
    if not m:
        raise Failure("statistics without '%s':\n%s" % (name, report[-3000:]))
    return int(m.group(1))


def eal_for(pcap: Path) -> str:
    # A comma in the path would end net_pcap's argument; the test's paths have none.
    if "," in str(pcap) or " " in str(pcap):
        raise Failure("path unusable in a --vdev argument: %s" % pcap)
    return EAL + " --vdev net_pcap0,rx_pcap=" + str(pcap)


def link_type(path: Path) -> int | None:
    """The link type of a classic pcap or the first interface of a pcapng file."""
    data = path.read_bytes()[:4096]
    if len(data) < 24:
        return None
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        return struct.unpack("<I", data[20:24])[0]
    if magic in (0xD4C3B2A1, 0x4D3CB2A1):
        return struct.unpack(">I", data[20:24])[0]
    if magic == 0x0A0D0D0A:  # pcapng: section header block, then the interface description block
        bom = data[8:12]
        e = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
        shb_len = struct.unpack(e + "I", data[4:8])[0]
        off = shb_len
        while off + 12 <= len(data):
            btype, blen = struct.unpack(e + "II", data[off:off + 8])
            if btype == 1:
                return struct.unpack(e + "H", data[off + 8:off + 10])[0]
            if blen < 12:
                return None
            off += blen
    return None


# ---------------------------------------------------------------------------
# The two ways through callvault
# ---------------------------------------------------------------------------


def offline(pcap: Path, out: Path) -> tuple[list[str], str]:
    p = run([CALLVAULT, "replay", "--no-db", "--json", "--out", str(out), str(pcap)], check=False, timeout=300)
    if p.returncode not in (0, 1):
        raise Failure("replay of %s exited %d:\n%s" % (pcap, p.returncode, p.stderr[-3000:]))
    return [l for l in p.stdout.splitlines() if l.strip()], p.stderr


class DpdkCapture:
    def __init__(self, work: Path, name: str, eal: str, extra: list[str] | None = None):
        self.out = work / ("dpdk-" + name)
        self.stdout_path = work / ("dpdk-%s.json" % name)
        self.stderr_path = work / ("dpdk-%s.err" % name)
        self.stdout = open(self.stdout_path, "w+")
        self.stderr = open(self.stderr_path, "w+")
        cmd = [CALLVAULT, "--log-level", "debug", "capture", "--backend", "dpdk", "--dpdk-eal", eal,
               "--stats-interval", "1", "--no-db", "--json", "--out", str(self.out)] + (extra or [])
        self.proc = subprocess.Popen(cmd, stdout=self.stdout, stderr=self.stderr)

    def err(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_started(self) -> None:
        deadline = time.time() + 30
        while "capturing on" not in self.err():
            if self.proc.poll() is not None or time.time() > deadline:
                self.kill()
                raise Failure("callvault capture --backend dpdk did not start:\n" + self.err()[-3000:])
            time.sleep(0.05)

    def wait_frames(self, frames: int, timeout: float = 120) -> None:
        """Until the port has delivered `frames` frames (net_pcap has no end of
        file: at the end it just returns no more)."""
        deadline = time.time() + timeout
        while True:
            m = PROGRESS.findall(self.err())
            if m and int(m[-1][0]) >= frames:
                return
            if self.proc.poll() is not None or time.time() > deadline:
                self.kill()
                raise Failure("the DPDK port did not deliver %d frames (last progress %s):\n%s" % (
                    frames, m[-1] if m else "none", self.err()[-3000:]))
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, list[str], str]:
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Failure("callvault capture --backend dpdk did not stop within 60 s of signal %d" % sig)
        self.stdout.seek(0)
        lines = [l for l in self.stdout.read().splitlines() if l.strip()]
        return rc, lines, self.err()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def files_digest(root: Path) -> dict[str, str]:
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def microsecond_copy(pcap: Path, work: Path) -> Path | None:
    """A classic microsecond pcap of `pcap` when its timestamps are finer than
    microseconds (capinfos; editcap makes the copy), else None. net_pcap opens
    every file with libpcap's default microsecond precision, so the frames it
    delivers carry microsecond times, while replay reads nanoseconds: uuids
    (made from the INVITE's time) and durations of a nanosecond capture differ
    by that rounding alone. Such a file is compared with the replay of its
    microsecond copy."""
    if pcap.read_bytes()[:4] not in (b"\x0a\x0d\x0d\x0a", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"):
        return None
    info = run(["capinfos", str(pcap)], check=False).stdout
    m = re.search(r"File timestamp precision:\s+(\w+)", info)
    if not m:
        raise Failure("capinfos cannot tell the timestamp precision of %s:\n%s" % (pcap, info))
    if m.group(1) in ("seconds", "deciseconds", "centiseconds", "milliseconds", "microseconds"):
        return None
    out = work / (pcap.name + ".usec.pcap")
    p = run(["editcap", "-F", "pcap", str(pcap), str(out)], check=False)
    if p.returncode != 0:
        raise Failure("editcap cannot make a microsecond pcap of %s: %s" % (pcap, p.stderr))
    return out


def compare(name: str, pcap: Path, work: Path) -> int:
    """DPDK vs replay of one file; returns the number of recordings compared."""
    usec = microsecond_copy(pcap, work)
    if usec is not None:
        print("  note  %s: nanosecond timestamps: compared with the replay of its microsecond copy "
              "(net_pcap reads microseconds)" % name)
    ref_lines, ref_err = offline(usec or pcap, work / ("ref-" + name))
    frames = stat(ref_err, "packets")
    cap = DpdkCapture(work, name, eal_for(pcap))
    try:
        cap.wait_started()
        cap.wait_frames(frames)
        rc, lines, err = cap.stop()
    finally:
        cap.kill()
    expect(rc == 0, "%s: capture exits 0 on SIGTERM" % name, err[-3000:])
    got = stat(err, "packets")
    drops = stat(err, "capture drops") + stat(err, "interface drops")
    expect(got == frames and drops == 0, "%s: all %d frames through the port, no drops" % (name, frames),
           "captured %d, drops %d\n%s" % (got, drops, err[-3000:]))
    ref = [json.loads(l) for l in ref_lines]
    live = [json.loads(l) for l in lines]
    expect(live == ref, "%s: the same %d calls, JSON identical (uuids, times, streams, audio paths)" % (name, len(ref)),
           "dpdk    %s\nreplay  %s" % (lines[:3], ref_lines[:3]))
    rd, ld = files_digest(work / ("ref-" + name)), files_digest(cap.out)
    diff = sorted(k for k in set(rd) | set(ld) if rd.get(k) != ld.get(k))
    expect(not diff, "%s: %d recordings byte-identical (sha256)" % (name, len(rd)), "differing: %s" % diff[:10])
    return len(rd)


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------


def generate(work: Path, case: str) -> Path:
    out = work / "gen"
    run([GEN, "--case", case, "--out", str(out)], timeout=300)
    return out / (case + ".pcap")


def gen_cases() -> list[str]:
    p = run([GEN, "--list"])
    return [l.split()[0] for l in p.stdout.splitlines() if l.strip()]


def test_identical(work: Path) -> None:
    inputs: list[tuple[str, Path]] = []
    if PCAPS.is_dir():
        for p in sorted(PCAPS.iterdir()):
            if p.suffix == ".md" or not p.is_file():
                continue
            lt = link_type(p)
            if lt == 1:  # LINKTYPE_ETHERNET
                inputs.append((p.name, p))
            elif lt is None:
                print("  note  %s: not a pcap/pcapng file, compared in `errors`" % p.name)
            else:
                print("  note  %s: link type %d, not Ethernet: a DPDK port cannot carry it" % (p.name, lt))
    elif CI:
        raise Failure("the real captures are missing at %s (CALLVAULT_PCAPS)" % PCAPS)
    else:
        print("  note  no real captures at %s" % PCAPS)
    for case in gen_cases():
        inputs.append(("gen-" + case, generate(work, case)))
    # Two at a time (each capture mostly waits for its progress line): the
    # EAL runs with --no-shconf, so the processes share nothing.
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        recordings = sum(pool.map(lambda item: compare(item[0], item[1], work), inputs))
    expect(recordings > 0, "%d captures, %d recordings identical through DPDK and replay" % (len(inputs), recordings))
    for name in NOT_ETHERNET_SAMPLES:
        p = PCAPS / name
        if not p.exists():
            continue
        _, ref_err = offline(p, work / ("ref-" + name))
        cap = DpdkCapture(work, name, eal_for(p))
        try:
            cap.wait_started()
            cap.wait_frames(stat(ref_err, "packets"))
            rc, _, err = cap.stop()
        finally:
            cap.kill()
        expect(rc == 0 and "malformed or unexpected input" in err,
               "%s (link type %s): read as Ethernet, counted, no crash" % (name, link_type(p)), err[-2000:])


def rewrite_unfragmented(src: Path, dst: Path) -> int:
    """Copies a classic pcap, joining IP fragments into one jumbo frame each.
    Returns the largest frame written."""
    data = src.read_bytes()
    magic = struct.unpack("<I", data[:4])[0]
    if magic != 0xA1B2C3D4:
        raise Failure("%s: expected a little-endian microsecond pcap" % src)
    out = bytearray(data[:24])
    out[16:20] = struct.pack("<I", 65535)  # snaplen
    off = 24
    pending: dict[tuple, list] = {}
    biggest = 0

    def emit(ts: bytes, frame: bytes) -> None:
        nonlocal biggest
        out.extend(ts + struct.pack("<II", len(frame), len(frame)) + frame)
        biggest = max(biggest, len(frame))

    def csum(h: bytes) -> int:
        s = sum(struct.unpack("!%dH" % (len(h) // 2), h))
        while s >> 16:
            s = (s & 0xFFFF) + (s >> 16)
        return ~s & 0xFFFF

    while off + 16 <= len(data):
        ts = data[off:off + 8]
        caplen = struct.unpack("<I", data[off + 8:off + 12])[0]
        frame = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        eth, et = frame[:14], struct.unpack("!H", frame[12:14])[0]
        if et == 0x0800:
            ip = frame[14:]
            ihl = (ip[0] & 0x0F) * 4
            flags_off = struct.unpack("!H", ip[6:8])[0]
            more, frag_off = bool(flags_off & 0x2000), (flags_off & 0x1FFF) * 8
            if more or frag_off:
                key = (4, ip[12:20], ip[4:6])
                total = struct.unpack("!H", ip[2:4])[0]
                pending.setdefault(key, []).append((frag_off, more, ip[:ihl], ip[ihl:total]))
                parts = pending[key]
                last = [p for p in parts if not p[1]]
                if last and sum(len(p[3]) for p in parts) == last[0][0] + len(last[0][3]):
                    parts.sort(key=lambda p: p[0])
                    payload = b"".join(p[3] for p in parts)
                    hdr = bytearray(next(p[2] for p in parts if p[0] == 0))
                    hdr[2:4] = struct.pack("!H", len(hdr) + len(payload))
                    hdr[6:8] = b"\0\0"
                    hdr[10:12] = b"\0\0"
                    hdr[10:12] = struct.pack("!H", csum(bytes(hdr)))
                    emit(ts, eth + bytes(hdr) + payload)
                    del pending[key]
                continue
        elif et == 0x86DD:
            ip = frame[14:]
            if ip[6] == 44:  # a fragment header right after the fixed header
                fh = ip[40:48]
                nxt, fo = fh[0], struct.unpack("!H", fh[2:4])[0]
                more, frag_off = bool(fo & 1), fo & 0xFFF8
                key = (6, ip[8:40], fh[4:8])
                plen = struct.unpack("!H", ip[4:6])[0]
                pending.setdefault(key, []).append((frag_off, more, ip[:40], ip[48:40 + plen], nxt))
                parts = pending[key]
                last = [p for p in parts if not p[1]]
                if last and sum(len(p[3]) for p in parts) == last[0][0] + len(last[0][3]):
                    parts.sort(key=lambda p: p[0])
                    payload = b"".join(p[3] for p in parts)
                    hdr = bytearray(parts[0][2])
                    hdr[4:6] = struct.pack("!H", len(payload))
                    hdr[6] = parts[0][4]
                    emit(ts, eth + bytes(hdr) + payload)
                    del pending[key]
                continue
        emit(ts, frame)
    if pending:
        raise Failure("%s: fragments left unjoined" % src)
    dst.write_bytes(bytes(out))
    return biggest


def test_jumbo(work: Path) -> None:
    for case, least in (("ipv4_fragmented_invite", 2100), ("ipv6_fragmented_invite", 3800)):
        src = generate(work, case)
        dst = work / ("jumbo-" + case + ".pcap")
        biggest = rewrite_unfragmented(src, dst)
        expect(biggest >= least, "%s: rewritten with a %d-byte frame (longer than one 2 kB mbuf)" % (case, biggest))
        _, ref_err = offline(dst, work / "ref-jumbo-probe")
        expect("ip fragments:          0 " in ref_err, "%s: no fragments left in the rewritten capture" % case)
        compare("jumbo-" + case, dst, work)
        err = (work / ("dpdk-jumbo-%s.err" % case)).read_text()
        expect(stat(err, "mbuf chains copied") >= 1, "%s: the jumbo frames arrived as mbuf chains (%d copied)" % (
            case, stat(err, "mbuf chains copied")))


def cpu_seconds(pid: int) -> float:
    fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_errors(work: Path) -> None:
    cases = [
        ("no port", ["--dpdk-eal", EAL], "no DPDK port"),
        ("unknown port", ["--dpdk-eal", eal_for(generate(work, "basic_pcmu")), "--interface", "net_pcap7"],
         'DPDK port "net_pcap7" does not exist (ports: 0 (net_pcap0))'),
        ("unknown port id", ["--dpdk-eal", eal_for(generate(work, "basic_pcmu")), "--interface", "3"],
         "DPDK port 3 does not exist"),
        ("bad EAL argument", ["--dpdk-eal", EAL + " --no-such-eal-option"], "DPDK EAL initialisation"),
        ("unterminated quote", ["--dpdk-eal", "--vdev 'net_pcap0"], "unterminated single quote"),
    ]
    if (PCAPS / "c07-sip-r2.cap").exists():  # Microsoft NetMon: libpcap (and so net_pcap) cannot read it
        cases.append(("not a capture", ["--dpdk-eal", eal_for(PCAPS / "c07-sip-r2.cap")], "no DPDK port"))
    for what, args, needle in cases:
        p = run([CALLVAULT, "capture", "--backend", "dpdk", "--no-db", "--out", str(work / "err")] + args,
                check=False, timeout=60)
        expect(p.returncode == 2 and needle in p.stderr, "%s: exit 2, \"%s\"" % (what, needle),
               "exit %d\n%s" % (p.returncode, p.stderr[-2000:]))

    # Idle: after the file, the port returns nothing; callvault sleeps between polls.
    pcap = generate(work, "basic_pcmu")
    _, ref_err = offline(pcap, work / "ref-idle")
    cap = DpdkCapture(work, "idle", eal_for(pcap), ["--dpdk-queues", "4"])
    try:
        cap.wait_started()
        cap.wait_frames(stat(ref_err, "packets"))
        before, t0 = cpu_seconds(cap.proc.pid), time.time()
        time.sleep(3)
        used, elapsed = cpu_seconds(cap.proc.pid) - before, time.time() - t0
        rc, lines, err = cap.stop(signal.SIGINT)
    finally:
        cap.kill()
    expect(used < 0.5 * elapsed, "idle port: %.2f s of CPU in %.1f s (no busy polling)" % (used, elapsed))
    expect(rc == 0 and "Interrupt received" in err, "SIGINT stops with exit 0", err[-2000:])
    expect("1 rx queue" in err, "--dpdk-queues 4 on a one-queue device: 1 rx queue", err[-2000:])
    expect(len(lines) == 1, "the call recorded", "\n".join(lines))

    # --filter: a BPF filter in user space; SIP over UDP filtered out leaves no call.
    cap = DpdkCapture(work, "filter", eal_for(pcap), ["--filter", "not udp port 5060"])
    try:
        cap.wait_started()
        cap.wait_frames(stat(ref_err, "packets"))
        rc, lines, err = cap.stop()
    finally:
        cap.kill()
    handed = int(PROGRESS.findall(err)[-1][1])
    expect(rc == 0 and not lines and 0 < handed < stat(ref_err, "packets"),
           "--filter \"not udp port 5060\": %d of %d frames handed on, no call" % (handed, stat(ref_err, "packets")),
           err[-2000:])


TESTS = {"identical": test_identical, "jumbo": test_jumbo, "errors": test_errors}


def prerequisites(names: list[str]) -> None:
    if not CALLVAULT or not Path(CALLVAULT).exists() or not GEN:
        raise Failure("CALLVAULT_BIN and CALLVAULT_GEN must name the binaries")
    probe = run([CALLVAULT, "capture", "--backend", "dpdk", "--dpdk-eal", EAL, "--no-db", "--out", "/nonexistent"],
                check=False, timeout=60)
    if "without DPDK support" in probe.stderr:
        raise Skip("this callvault was built without DPDK (apt-get install dpdk-dev, then reconfigure)")
    if "EAL initialisation" in probe.stderr:
        raise Skip("the DPDK EAL cannot start here: " + probe.stderr.strip()[-500:])


def main() -> int:
    return run_named_tests(TESTS, sys.argv[1:], "cv-dpdk", prerequisites, keep_env="CVDPDK_KEEP")


if __name__ == "__main__":
    sys.exit(main())
