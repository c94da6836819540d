#!/usr/bin/python3
"""Real-capture acceptance test: `callvault replay` against tshark.

For every capture in the corpus directory that holds SIP over UDP or TCP with
an INVITE dialog and RTP (decided with tshark, not from a list), this test runs
`callvault replay --no-db --json --out DIR FILE` twice and checks, against
tshark 4.x as the independent reference:

 1. calls   - the Call-IDs carrying an initial INVITE over UDP or TCP (tshark's
              own TCP reassembly, on the ports it dissects SIP on) == the set of
              `sip_call_id` values callvault printed;
 2. streams - tshark's RTP streams set up from SDP (`-z rtp,streams`, heuristic
              RTP off) == callvault's streams: src, dst, SSRC, packet count
              (tshark counts duplicates: tshark == packets + duplicates), lost
              (sequence numbers never seen), payload types, codec/decoded,
              channel (where the SDP makes it unambiguous), offset_samples;
 3. audio   - every G.711 (and G.722) stream callvault decoded is in its WAV
              channel sample for sample at the position docs/RECORDING_FORMAT.md
              gives, and samples no packet covers are 0; file length, format,
              sha256, path;
 4. determinism - uuids and WAV files are byte-identical across two runs.

Known, justified deviations are in EXCEPTIONS below. Standard library only;
run with Debian's /usr/bin/python3 (audioop, wave). tshark and ffmpeg (G.722
reference decoder) must be installed.

Usage:
  test_corpus.py --callvault PATH [--pcaps DIR] [--only NAME ...] [unittest args]
  test_corpus.py --self-check [--only NAME ...]   # tshark side only, no callvault

The captures directory is --pcaps, else $CALLVAULT_PCAPS, else
<repo>/../shared/pcaps. When it (or tshark/ffmpeg) is missing the test exits
77 (ctest SKIP_RETURN_CODE), except with CI=true, where that is a failure.
"""

from __future__ import annotations

import argparse
import array
import atexit
import bisect
import calendar
import concurrent.futures
import hashlib
import ipaddress
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import uuid as uuidlib
import wave
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_PCAPS = REPO.parent / "shared" / "pcaps"
SKIP_RC = 77
NS = 1_000_000_000

# --------------------------------------------------------------------------
# Known, justified exceptions.
#
# Each entry tolerates one specific discrepancy for one capture; it never
# requires it. An entry that turns out not to be needed is printed as a NOTE
# ("exception unused") so stale entries get noticed. Keys:
#   skip             - the capture is not tested at all (reason).
#   robustness_only  - callvault must exit 0, print valid JSON and be
#                      deterministic; no comparison with tshark.
#   audio_skip       - {ssrc: reason}: no sample comparison for the stream;
#                      its packets' positions are treated as unknown content.
#   tshark_truncated - {ssrc: reason}: tshark stops seeing the stream part way
#                      (dissects the rest as another protocol): callvault may
#                      count more packets; lost/payload types are not compared
#                      exactly; audio is compared only up to tshark's last
#                      packet, the channel after that is unknown.
#   extra_streams    - {ssrc: reason}: callvault may report this stream
#                      although tshark has no RTP stream for it; its extent
#                      on its channel (offset_samples to the end) is unknown.
#   missing_streams  - {ssrc: reason}: callvault may omit this tshark stream.
# --------------------------------------------------------------------------
EXCEPTIONS: dict[str, dict] = {
    "gtp-iphone.pcap": {
        "skip": "VoLTE call tunnelled in GTP-U (outer IPv4/UDP 2152, inner IPv6; part of the SIP "
                "over TCP): GTP-U decapsulation is not in callvault's contract, and the media is AMR "
                "(not decodable anyway). Remove this entry if callvault learns GTP-U.",
    },
    "fuzz-2006-06-26-2594.pcap": {
        "robustness_only": "fuzzed copy of aaa.pcap (random bytes corrupted: Call-IDs, methods, "
                           "addresses): tshark's and callvault's reading of corrupt SIP legitimately "
                           "differ; only no crash, valid JSON and determinism are required.",
    },
    "Asterisk_ZFONE_XLITE.pcap": {
        "audio_skip": {
            0xB72A7104: "ZRTP goes secure after ~12 packets: the rest is SRTP (ciphertext + 4-byte "
                        "auth tag, so 164-byte payloads per 160 timestamp units overlap); the "
                        "'audio' is noise and its layout unspecified.",
            0xBEE0F2ED: "SRTP after ZRTP (as 0xB72A7104); also sent to two destinations "
                        "(192.168.10.40:49848, then 192.168.10.2:18874 after the re-INVITE).",
        },
    },
    "FAX-Call-t38-CA-TDM-SIP-FB-1.pcap": {
        "tshark_truncated": {
            0x0EAF0EAF: "after the T.38 re-INVITE (frame 3100, answered 488) tshark keeps the T.38 "
                        "conversation it set up from the image m-line on 10.23.1.52:16756 and "
                        "dissects the remaining 2010 RTP packets of this SSRC (frames 3106..) as "
                        "UDPTL; callvault binds audio m-lines only and keeps counting them.",
        },
    },
    "LtoZ_rtpFilter_fail_2.pcap": {
        "extra_streams": {
            0xFA1BB4E6: "3 RTP packets (PCMU, frames 124/126/1199) sent from the T.38 port "
                        "10.10.10.158:16394 to 10.10.10.211:16422 after the switch to T.38: tshark "
                        "dissects them as UDPTL (T.38 conversation from the image m-line); callvault "
                        "still has 10.10.10.211:16422 bound from the audio SDP.",
        },
    },
}

# Rules applied to every capture; each hit is printed as a NOTE, not a failure.
#  video      - a tshark stream whose endpoints appear only in video/image (or other
#               non-audio) m-lines: callvault records audio only (R2). Corpus:
#               h263-over-rtp.pcap, rohc-bug1265304_source.pcap (H.264),
#               testing.ext.pcap (H.264 with a few PT 0 packets on the video port).
#  signalling - a tshark stream none of whose endpoints is named by SIP (UDP/TCP) SDP
#               (set up by MEGACO, SCCP, ZRTP... only): callvault binds from SIP SDP.
#  srtp       - packets tshark dissects as SRTP (a ZRTP/SDES key exchange it saw):
#               audio comparison skipped for the stream (Asterisk_ZFONE_XLITE.pcap).
#  overlap    - samples where two packets overlap on one channel (summed by callvault):
#               skipped (e.g. SIP_DTMF2.cap, where the SDP puts both streams on the caller).
#  resampled  - G.711 in a 16 kHz call (libswresample): content not compared.
#  reordered  - a packet arriving after a later-numbered one: callvault's jitter window is
#               unspecified, so its content is not compared.
#
# Captures that do not qualify are skipped with the reason tshark gives (no INVITE over
# UDP/TCP, or no RTP stream set up by SDP). Some worth naming:
NOT_QUALIFYING_NOTES = {
    "sip_ipv4_tcp_fragmented.pcap": "SIP over TCP on port 6060, which tshark dissects only with "
                                    "decode-as; no RTP",
    "ipip.pcap": "SIP over TCP inside IP-in-IP, no RTP",
    "sip-tls-1.3-and-rtcp_sip.pcap": "SIP inside TLS: no SDP visible, RTP only heuristically",
    "skinny.pcap": "SCCP-signalled RTP, no SIP",
}

G711_TABLE_ULAW: list[int] = []
G711_TABLE_ALAW: list[int] = []
AUDIO_PTS = {0: "PCMU", 8: "PCMA", 9: "G722"}
CN_PT = 13
STATIC_CODEC = {0: "PCMU", 3: "GSM", 4: "G723", 8: "PCMA", 9: "G722", 18: "G729"}


# ------------------------------------------------------------------ G.711 --
def ulaw_to_linear(code: int) -> int:
    """ITU-T G.711 mu-law expansion to 16 bits (the 14-bit value << 2, as audioop)."""
    u = ~code & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return (0x84 - t) if (u & 0x80) else (t - 0x84)


def alaw_to_linear(code: int) -> int:
    """ITU-T G.711 A-law expansion to 16 bits (the 13-bit value << 3, as audioop)."""
    a = code ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = t + 8 if seg == 0 else (t + 0x108) << (seg - 1)
    return t if (a & 0x80) else -t


G711_TABLE_ULAW = [ulaw_to_linear(i) for i in range(256)]
G711_TABLE_ALAW = [alaw_to_linear(i) for i in range(256)]


def g711_decode(payload: bytes, pt: int) -> array.array:
    table = G711_TABLE_ULAW if pt == 0 else G711_TABLE_ALAW
    return array.array("h", [table[b] for b in payload])


def g722_decode_ffmpeg(payload: bytes, workdir: str) -> array.array:
    """ffmpeg's G.722 decoder as the independent reference: 16 kHz mono s16le."""
    src = os.path.join(workdir, "x.g722")
    dst = os.path.join(workdir, "out.raw")
    with open(src, "wb") as f:
        f.write(payload)
    r = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "g722",
                        "-i", src, "-f", "s16le", "-ar", "16000", "-ac", "1", dst],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"ffmpeg G.722 decode failed: {r.stderr.strip()[-500:]}")
    out = array.array("h")
    with open(dst, "rb") as f:
        out.frombytes(f.read())
    if sys.byteorder != "little":
        out.byteswap()
    return out


# ---------------------------------------------------------------- helpers --
def parse_ns(text: str) -> int:
    """'1311238107.506422000' (frame.time_epoch) -> integer nanoseconds, exactly."""
    text = text.strip()
    neg = text.startswith("-")
    whole, _, frac = text.lstrip("-").partition(".")
    ns = int(whole or "0") * NS + int((frac + "000000000")[:9])
    return -ns if neg else ns


def samples_for(delta_ns: int, rate: int) -> int:
    """round(delta * rate), halves away from zero, in integers."""
    v = delta_ns * rate
    q = (abs(v) + NS // 2) // NS
    return q if v >= 0 else -q


def norm_ip(addr: str) -> str:
    try:
        return ipaddress.ip_address(addr.strip().strip("[]")).compressed
    except ValueError:
        return addr.strip()


def ep_str(ep) -> str:
    host, port = ep
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_ep(text: str):
    text = text.strip()
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":")
    return (norm_ip(host), int(port))


def ssrc_str(ssrc: int) -> str:
    return f"0x{ssrc:08X}"


ISO_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]00:?00)?$")


def parse_iso_ns(text) -> int | None:
    if not isinstance(text, str):
        return None
    m = ISO_RE.match(text.strip())
    if not m:
        return None
    y, mo, d, h, mi, s, frac, _ = m.groups()
    secs = calendar.timegm((int(y), int(mo), int(d), int(h), int(mi), int(s), 0, 0, 0))
    return secs * NS + int(((frac or "") + "000000000")[:9])


def utc_date_path(t_ns: int) -> str:
    return time.strftime("%Y/%m/%d", time.gmtime(t_ns // NS))


def iso_ms(t_ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t_ns // NS)) + f".{(t_ns % NS) // 1_000_000:03d}Z"


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def truthy_env(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def limited(items: list[str], n: int = 25) -> list[str]:
    return items if len(items) <= n else items[:n] + [f"... and {len(items) - n} more"]


# ------------------------------------------------------------ tshark side --
TSHARK_FIELDS = [
    "frame.number", "frame.time_epoch", "frame.protocols",
    "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "udp.srcport", "udp.dstport", "tcp.srcport", "tcp.dstport",
    "sip.Method", "sip.Status-Code", "sip.CSeq.method", "sip.Call-ID", "sip.from.tag", "sip.to.tag",
    "rtp.ssrc", "rtp.seq", "rtp.timestamp", "rtp.p_type", "rtpevent.event_id", "srtp.enc_payload",
    "rtp.payload",
]
FIELD_INDEX = {name: i for i, name in enumerate(TSHARK_FIELDS)}
AGG = "\x1f"  # aggregator between occurrences of one field
STREAMS_RE = re.compile(
    r"^\s*(\S+)\s+(\S+)\s+(\S+)\s+(\d+)\s+(\S+)\s+(\d+)\s+(0x[0-9A-Fa-f]+)\s+(.*?)\s+(\d+)\s+(-?\d+)\s+\(")

_TSHARK_CONFIG_DIR = None


def tshark_env() -> dict:
    """An empty personal configuration, so no user profile (decode-as, heuristics) leaks in."""
    global _TSHARK_CONFIG_DIR
    if _TSHARK_CONFIG_DIR is None:
        _TSHARK_CONFIG_DIR = tempfile.mkdtemp(prefix="cv-corpus-wsconf-")
        atexit.register(shutil.rmtree, _TSHARK_CONFIG_DIR, True)
    env = dict(os.environ)
    env["WIRESHARK_CONFIG_DIR"] = _TSHARK_CONFIG_DIR
    return env


class RtpPacket:
    __slots__ = ("frame", "t", "ssrc", "seq", "ts", "pt", "payload", "event", "srtp", "src", "dst",
                 "ext", "dup", "reordered")

    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)
        self.ext = 0
        self.dup = False
        self.reordered = False


class SipMsg:
    __slots__ = ("frame", "t", "methods", "status", "cseq_method", "call_id", "from_tag", "to_tag", "udp", "tcp",
                 "src", "dst")

    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)

    @property
    def is_request(self) -> bool:
        return bool(self.methods)


class TStream:
    """One line of tshark's -z rtp,streams."""
    __slots__ = ("key", "payload_names", "pkts", "lost", "cls", "cls_why")

    def __init__(self, key, payload_names, pkts, lost):
        self.key, self.payload_names, self.pkts, self.lost = key, payload_names, pkts, lost
        self.cls = "audio"
        self.cls_why = ""


class StreamStats:
    """The test's own per-stream numbers from tshark's packets."""

    def __init__(self, pkts: list[RtpPacket]):
        self.count = len(pkts)
        exts = set()
        prev = None
        max_ext = None
        for p in pkts:
            if prev is None:
                p.ext = p.seq
            else:
                delta = ((p.seq - prev.seq + 32768) % 65536) - 32768
                p.ext = prev.ext + delta
            p.dup = p.ext in exts
            p.reordered = (not p.dup) and max_ext is not None and p.ext < max_ext
            exts.add(p.ext)
            max_ext = p.ext if max_ext is None else max(max_ext, p.ext)
            prev = p
        self.unique = len(exts)
        self.duplicates = self.count - self.unique
        self.lost = (max(exts) - min(exts) + 1 - self.unique) if exts else 0
        self.pts = sorted({p.pt for p in pkts})
        self.srtp = sum(1 for p in pkts if p.srtp)
        self.reordered = sum(1 for p in pkts if p.reordered)
        self.first_t = pkts[0].t if pkts else None


class CaptureData:
    def __init__(self, name: str, path: Path):
        self.name = name
        self.path = path
        self.rtp: dict[tuple, list[RtpPacket]] = {}
        self.sip: list[SipMsg] = []
        self.streams: dict[tuple, TStream] = {}
        self.stats: dict[tuple, StreamStats] = {}
        self.errors: list[str] = []
        self.qualifies = False
        self.why_not = ""
        self.invite_callids: set[str] = set()
        self.initial_callids: set[str] = set()
        self.first_invite: dict[str, list[int]] = {}  # Call-ID -> initial INVITE times
        self.caller_tag: dict[str, str] = {}
        self.sdp_roles: dict[str, dict[tuple, set]] = {}   # Call-ID -> endpoint -> {caller, callee}
        self.sdp_kinds: dict[tuple, set] = {}              # endpoint -> {audio, video, image, ...}
        self.elapsed = 0.0

    def sip_audio_endpoints(self) -> set:
        return {ep for ep, kinds in self.sdp_kinds.items() if "audio" in kinds}


def _first(v: str) -> str:
    return v.split(AGG)[0] if v else ""


def _last(v: str) -> str:
    return v.split(AGG)[-1] if v else ""


def _inner_endpoints(f: list[str]):
    protos = f[FIELD_INDEX["frame.protocols"]].split(":")
    ip_layers = [p for p in protos if p in ("ip", "ipv6")]
    if not ip_layers:
        return None, None
    if ip_layers[-1] == "ipv6":
        s, d = _last(f[FIELD_INDEX["ipv6.src"]]), _last(f[FIELD_INDEX["ipv6.dst"]])
    else:
        s, d = _last(f[FIELD_INDEX["ip.src"]]), _last(f[FIELD_INDEX["ip.dst"]])
    sp, dp = _last(f[FIELD_INDEX["udp.srcport"]]), _last(f[FIELD_INDEX["udp.dstport"]])
    if not (sp and dp):  # SIP over TCP
        sp, dp = _last(f[FIELD_INDEX["tcp.srcport"]]), _last(f[FIELD_INDEX["tcp.dstport"]])
    if not (s and d and sp and dp):
        return None, None
    return (norm_ip(s), int(sp)), (norm_ip(d), int(dp))


def load_capture(path: Path) -> CaptureData:
    """One tshark pass with all fields + rtp,streams; a second (JSON) pass for SDP if it qualifies."""
    cap = CaptureData(path.name, path)
    started = time.monotonic()
    cmd = ["tshark", "-n", "-r", str(path), "-o", "rtp.heuristic_rtp:FALSE", "-Y", "sip || rtp",
           "-T", "fields", "-E", "separator=/t", "-E", f"aggregator={AGG}", "-E", "occurrence=a"]
    for field in TSHARK_FIELDS:
        cmd += ["-e", field]
    cmd += ["-z", "rtp,streams"]
    r = subprocess.run(cmd, capture_output=True, env=tshark_env(), timeout=600)
    out = r.stdout.decode("utf-8", errors="replace")
    if r.returncode != 0 and not out:
        cap.errors.append(f"tshark failed ({r.returncode}): {r.stderr.decode(errors='replace')[-500:]}")
        cap.why_not = "tshark could not read it"
        return cap
    lines = out.split("\n")
    stats_at = next((i for i in range(len(lines) - 1, -1, -1)
                     if lines[i].startswith("=") and "RTP Streams" in lines[i]), len(lines))
    for line in lines[:stats_at]:
        if not line:
            continue
        f = line.split("\t")
        if len(f) != len(TSHARK_FIELDS):
            cap.errors.append(f"unparsed tshark line: {line[:120]!r}")
            continue
        src, dst = _inner_endpoints(f)
        frame = int(f[FIELD_INDEX["frame.number"]])
        t = parse_ns(f[FIELD_INDEX["frame.time_epoch"]])
        if f[FIELD_INDEX["rtp.ssrc"]] and src:
            try:
                ssrc = int(_first(f[FIELD_INDEX["rtp.ssrc"]]), 16)
                p = RtpPacket(frame=frame, t=t, ssrc=ssrc, seq=int(_first(f[FIELD_INDEX["rtp.seq"]])),
                              ts=int(_first(f[FIELD_INDEX["rtp.timestamp"]])),
                              pt=int(_first(f[FIELD_INDEX["rtp.p_type"]])),
                              payload=bytes.fromhex(_first(f[FIELD_INDEX["rtp.payload"]]).replace(":", "")),
                              event=bool(f[FIELD_INDEX["rtpevent.event_id"]]),
                              srtp=bool(f[FIELD_INDEX["srtp.enc_payload"]]), src=src, dst=dst)
            except ValueError as e:
                cap.errors.append(f"frame {frame}: bad RTP fields ({e})")
            else:
                cap.rtp.setdefault((ssrc, src, dst), []).append(p)
        if f[FIELD_INDEX["sip.Call-ID"]]:
            protos = f[FIELD_INDEX["frame.protocols"]].split(":")
            m = SipMsg(frame=frame, t=t,
                       methods=[x for x in f[FIELD_INDEX["sip.Method"]].split(AGG) if x],
                       status=_first(f[FIELD_INDEX["sip.Status-Code"]]),
                       cseq_method=_first(f[FIELD_INDEX["sip.CSeq.method"]]),
                       call_id=_first(f[FIELD_INDEX["sip.Call-ID"]]),
                       from_tag=_first(f[FIELD_INDEX["sip.from.tag"]]),
                       to_tag=_first(f[FIELD_INDEX["sip.to.tag"]]),
                       udp="udp" in protos, tcp="tcp" in protos, src=src, dst=dst)
            cap.sip.append(m)
    for line in lines[stats_at + 1:]:
        m = STREAMS_RE.match(line)
        if not m:
            continue
        src = (norm_ip(m.group(3)), int(m.group(4)))
        dst = (norm_ip(m.group(5)), int(m.group(6)))
        key = (int(m.group(7), 16), src, dst)
        if key in cap.streams:  # tshark lists one key once; merge defensively
            cap.streams[key].pkts += int(m.group(9))
        else:
            cap.streams[key] = TStream(key, m.group(8).strip(), int(m.group(9)), int(m.group(10)))
    for key, pkts in cap.rtp.items():
        cap.stats[key] = StreamStats(pkts)

    # Calls as tshark sees them: Call-IDs with an INVITE over UDP or TCP (initial INVITE = no To tag).
    for m in cap.sip:
        if not ((m.udp or m.tcp) and "INVITE" in m.methods):
            continue
        cap.invite_callids.add(m.call_id)
        if not m.to_tag:
            cap.initial_callids.add(m.call_id)
            cap.first_invite.setdefault(m.call_id, []).append(m.t)
            cap.caller_tag.setdefault(m.call_id, m.from_tag)
    if not cap.invite_callids:
        cap.why_not = "no SIP INVITE over UDP or TCP"
    elif not cap.streams:
        cap.why_not = "no RTP stream set up by SDP"
    else:
        cap.qualifies = True
        _load_sdp(cap)
        _classify_streams(cap)
    cap.elapsed = time.monotonic() - started
    return cap


def _pairs_find(pairs, key):
    for k, v in pairs:
        if k == key:
            return v
    return None


def _walk_sdp(node, found):
    """Collects every 'sdp' subtree (ordered key/value pairs) below node."""
    if isinstance(node, list):
        for item in node:
            if isinstance(item, tuple) and len(item) == 2:
                k, v = item
                if k == "sdp" and isinstance(v, list):
                    found.append(v)
                else:
                    _walk_sdp(v, found)
            else:
                _walk_sdp(item, found)


def _sdp_media(sdp_pairs) -> list[tuple[str, str, int]]:
    """[(kind, address, port)] with the effective connection address of each m= section."""
    session_c = None
    media = []  # [kind, port, media_c]
    for k, v in sdp_pairs:
        if k == "sdp.connection_info_tree" and isinstance(v, list):
            addr = _pairs_find(v, "sdp.connection_info.address")
            if isinstance(addr, str):
                if media:
                    media[-1][2] = addr
                else:
                    session_c = addr
        elif k == "sdp.media_tree" and isinstance(v, list):
            kind = _pairs_find(v, "sdp.media.media")
            port = _pairs_find(v, "sdp.media.port")
            try:
                port = int(port)
            except (TypeError, ValueError):
                port = 0
            media.append([kind if isinstance(kind, str) else "?", port, None])
    return [(kind, c or session_c or "", port) for kind, port, c in media]


def _load_sdp(cap: CaptureData) -> None:
    cmd = ["tshark", "-n", "-r", str(cap.path), "-o", "rtp.heuristic_rtp:FALSE", "-Y", "sip && sdp && (udp || tcp)",
           "-T", "json", "-J", "frame sip"]
    r = subprocess.run(cmd, capture_output=True, env=tshark_env(), timeout=600)
    try:
        packets = json.loads(r.stdout.decode("utf-8", errors="replace") or "[]",
                             object_pairs_hook=lambda p: p)
    except json.JSONDecodeError as e:
        cap.errors.append(f"tshark SDP JSON unreadable: {e}")
        return
    sip_by_frame = {m.frame: m for m in cap.sip}
    for pkt in packets:
        layers = _pairs_find(_pairs_find(pkt, "_source") or [], "layers") or []
        frame_layer = _pairs_find(layers, "frame") or []
        try:
            frame = int(_pairs_find(frame_layer, "frame.number"))
        except (TypeError, ValueError):
            continue
        msg = sip_by_frame.get(frame)
        if msg is None:
            continue
        found = []
        _walk_sdp(layers, found)
        # Who sent it: requests from the caller carry the caller's From tag; a response
        # carries the From tag of the request it answers, and is sent by the other party.
        caller_tag = cap.caller_tag.get(msg.call_id)
        if caller_tag is None:
            continue  # not an INVITE dialog (or only re-INVITEs seen)
        from_caller = (msg.from_tag == caller_tag) if caller_tag else True
        sender = ("caller" if from_caller else "callee") if msg.is_request else \
                 ("callee" if from_caller else "caller")
        for sdp in found:
            for kind, addr, port in _sdp_media(sdp):
                if port == 0 or not addr:
                    continue
                try:
                    ip = ipaddress.ip_address(addr)
                except ValueError:
                    continue  # FQDN in c=: nothing either side can bind
                if ip.is_unspecified:
                    continue  # hold (c=0.0.0.0)
                ep = (ip.compressed, port)
                cap.sdp_kinds.setdefault(ep, set()).add(kind)
                if kind == "audio":
                    cap.sdp_roles.setdefault(msg.call_id, {}).setdefault(ep, set()).add(sender)


def _classify_streams(cap: CaptureData) -> None:
    audio = cap.sip_audio_endpoints()
    for key, st in cap.streams.items():
        _, src, dst = key
        if src in audio or dst in audio:
            st.cls = "audio"
        elif src in cap.sdp_kinds or dst in cap.sdp_kinds:
            kinds = sorted(cap.sdp_kinds.get(src, set()) | cap.sdp_kinds.get(dst, set()))
            st.cls, st.cls_why = "video", f"endpoint only in {'/'.join(kinds)} m-lines (R2: audio only)"
        else:
            st.cls, st.cls_why = "signalling", "no SIP (UDP/TCP) SDP names either endpoint"


def channel_evidence(cap: CaptureData, call_id: str, src, dst) -> set:
    """Channels the SIP SDP of call_id implies for a stream src -> dst."""
    roles = cap.sdp_roles.get(call_id, {})
    ev = set()
    for role in roles.get(dst, ()):  # the destination names the receiver
        ev.add("callee" if role == "caller" else "caller")
    for role in roles.get(src, ()):  # symmetric RTP: the source names the sender
        ev.add(role)
    return ev


# ---------------------------------------------------------- callvault side --
class CvRun:
    def __init__(self, outdir: str):
        self.outdir = outdir
        self.rc = None
        self.stdout = ""
        self.stderr = ""
        self.calls: list[dict] = []
        self.json_errors: list[str] = []
        self.elapsed = 0.0
        self.files: dict[str, str] = {}  # relative path -> sha256


def run_callvault(binary: str, capture: Path, outdir: str, timeout: int) -> CvRun:
    run = CvRun(outdir)
    started = time.monotonic()
    try:
        r = subprocess.run([binary, "replay", "--no-db", "--json", "--out", outdir, str(capture)],
                           capture_output=True, timeout=timeout, cwd=outdir)
        run.rc = r.returncode
        run.stdout = r.stdout.decode("utf-8", errors="replace")
        run.stderr = r.stderr.decode("utf-8", errors="replace")
    except subprocess.TimeoutExpired as e:
        run.rc = "timeout"
        run.stderr = (e.stderr or b"").decode("utf-8", errors="replace")
    except OSError as e:
        run.rc = f"cannot run: {e}"
    run.elapsed = time.monotonic() - started
    for n, line in enumerate(run.stdout.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            run.json_errors.append(f"stdout line {n} is not JSON ({e}): {line[:200]!r}")
            continue
        if not isinstance(obj, dict):
            run.json_errors.append(f"stdout line {n} is not a JSON object: {line[:200]!r}")
            continue
        run.calls.append(obj)
    for root, _, files in os.walk(outdir):
        for fn in files:
            full = os.path.join(root, fn)
            run.files[os.path.relpath(full, outdir)] = sha256_file(full)
    return run


# ---------------------------------------------------------------- checker --
class Report:
    def __init__(self, capture: str):
        self.capture = capture
        self.problems: list[str] = []
        self.notes: list[str] = []

    def fail(self, msg: str):
        self.problems.append(msg)

    def note(self, msg: str):
        self.notes.append(msg)


def cv_stream_key(s: dict):
    try:
        return (int(str(s["ssrc"]), 16), parse_ep(s["src"]), parse_ep(s["dst"]))
    except (KeyError, ValueError, TypeError):
        return None


def check_calls(cap: CaptureData, calls: list[dict], rep: Report) -> None:
    cv_ids = [c.get("sip_call_id") for c in calls]
    cv_set = {x for x in cv_ids if isinstance(x, str)}
    if len(cv_set) != len(cv_ids):
        bad = [x for x in cv_ids if not isinstance(x, str)]
        if bad:
            rep.fail(f"calls: {len(bad)} JSON object(s) without a string sip_call_id")
        dups = sorted({x for x in cv_set if cv_ids.count(x) > 1})
        if dups:
            rep.note(f"calls: Call-ID(s) reported more than once (reused Call-ID?): {dups}")
    expected = cap.initial_callids
    reinvite_only = cap.invite_callids - cap.initial_callids
    missing = sorted(expected - cv_set)
    extra = sorted(cv_set - expected - reinvite_only)
    if missing:
        rep.fail(f"calls: tshark sees an initial INVITE over UDP/TCP for Call-ID(s) callvault did not report: "
                 f"{missing}")
    if extra:
        rep.fail(f"calls: callvault reported Call-ID(s) with no INVITE over UDP/TCP in tshark: {extra}")
    if reinvite_only:
        rep.note(f"calls: Call-ID(s) with only re-INVITEs (To tag) in the capture, tolerated either way: "
                 f"{sorted(reinvite_only)} (callvault reported: {sorted(reinvite_only & cv_set)})")
    # start = first INVITE's capture time (any initial INVITE's when the Call-ID was reused).
    uuids = [str(c.get("uuid")) for c in calls]
    if len(set(uuids)) != len(uuids):
        rep.fail(f"calls: uuids not unique: {sorted({u for u in uuids if uuids.count(u) > 1})}")
    for c in calls:
        cid = c.get("sip_call_id")
        times = cap.first_invite.get(cid)
        if not times:
            continue
        if cv_ids.count(cid) == 1:
            times = [min(times)]
        start = parse_iso_ns(c.get("start"))
        if start is None:
            rep.fail(f"call {cid}: 'start' {c.get('start')!r} is not an ISO 8601 UTC time")
        elif not any(abs(start - t) <= 1_000_000 for t in times):
            rep.fail(f"call {cid}: start {c.get('start')} is not the capture time of an initial INVITE "
                     f"({', '.join(iso_ms(t) for t in times[:3])})")
        u = c.get("uuid")
        try:
            if uuidlib.UUID(str(u)).version != 5:
                rep.fail(f"call {cid}: uuid {u} is not a version 5 (name-based) UUID")
        except ValueError:
            rep.fail(f"call {cid}: uuid {u!r} is not a UUID")


class StreamMatch:
    """callvault (call index, stream index) entries per tshark key, and merges."""

    def __init__(self):
        self.by_tkey: dict[tuple, list[tuple[int, int]]] = {}  # tshark key -> [(ci, si)]
        self.cv_keys: dict[tuple[int, int], list[tuple]] = {}  # (ci, si) -> tshark keys (packets)


def check_streams(cap: CaptureData, calls: list[dict], exc: dict, rep: Report) -> StreamMatch:
    match = StreamMatch()
    truncated = exc.get("tshark_truncated", {})
    extra_ok = exc.get("extra_streams", {})
    missing_ok = exc.get("missing_streams", {})
    used = set()
    cv_entries: dict[tuple, list[tuple[int, int]]] = {}
    for ci, c in enumerate(calls):
        streams = c.get("streams")
        if not isinstance(streams, list):
            rep.fail(f"call {c.get('sip_call_id')}: 'streams' is not a list")
            continue
        for si, s in enumerate(streams):
            key = cv_stream_key(s) if isinstance(s, dict) else None
            if key is None:
                rep.fail(f"call {c.get('sip_call_id')}: stream {si} has unreadable ssrc/src/dst: {s!r:.200}")
                continue
            if not (isinstance(s["ssrc"], str) and re.fullmatch(r"0x[0-9A-F]{8}", s["ssrc"])):
                rep.fail(f"call {c.get('sip_call_id')}: stream ssrc {s['ssrc']!r} is not formatted \"0x%08X\"")
            if s.get("channel") not in ("caller", "callee"):
                rep.fail(f"call {c.get('sip_call_id')} ssrc {ssrc_str(key[0])}: channel {s.get('channel')!r} "
                         f"is neither 'caller' nor 'callee'")
            cv_entries.setdefault(key, []).append((ci, si))

    def desc(key):
        return f"ssrc {ssrc_str(key[0])} {ep_str(key[1])} -> {ep_str(key[2])}"

    def cv_sum(entries, field):
        total = 0
        for ci, si in entries:
            v = calls[ci]["streams"][si].get(field)
            total += v if isinstance(v, int) else 0
        return total

    # Direct matches on (ssrc, src, dst).
    unmatched_t = []
    for tkey, ts in cap.streams.items():
        entries = cv_entries.get(tkey)
        if not entries:
            unmatched_t.append(tkey)
            continue
        match.by_tkey[tkey] = entries
        for e in entries:
            match.cv_keys.setdefault(e, []).append(tkey)
    unmatched_cv = [k for k in cv_entries if k not in cap.streams]

    # Merges: callvault keeps one stream per SSRC and channel, so tshark streams of one SSRC
    # with the same source (or destination) can be one callvault stream.
    for ckey in list(unmatched_cv):
        entries = cv_entries[ckey]
        group = [t for t in unmatched_t if t[0] == ckey[0] and (t[1] == ckey[1] or t[2] == ckey[2])]
        if group and sum(cap.streams[t].pkts for t in group) == cv_sum(entries, "packets") + cv_sum(entries, "duplicates"):
            rep.note(f"streams: callvault stream {desc(ckey)} is tshark's {', '.join(desc(t) for t in group)} merged")
            unmatched_cv.remove(ckey)
            for t in group:
                unmatched_t.remove(t)
                match.by_tkey[t] = entries
                for e in entries:
                    match.cv_keys.setdefault(e, []).append(t)

    for tkey in unmatched_t:
        ts = cap.streams[tkey]
        line = (f"streams: tshark stream {desc(tkey)} ({ts.payload_names}, {ts.pkts} pkts, first frame "
                f"{cap.rtp[tkey][0].frame if tkey in cap.rtp else '?'}) is missing from callvault's output")
        if tkey[0] in missing_ok:
            used.add(("missing_streams", tkey[0]))
            rep.note(line + f" - tolerated: {missing_ok[tkey[0]]}")
        elif ts.cls != "audio":
            rep.note(line + f" - tolerated ({ts.cls}: {ts.cls_why})")
        else:
            rep.fail(line)
    for ckey in unmatched_cv:
        entries = cv_entries[ckey]
        s = calls[entries[0][0]]["streams"][entries[0][1]]
        line = (f"streams: callvault stream {desc(ckey)} (call {calls[entries[0][0]].get('sip_call_id')}, "
                f"{s.get('codec')}, {s.get('packets')} pkts) is not an RTP stream in tshark")
        if ckey[0] in extra_ok:
            used.add(("extra_streams", ckey[0]))
            rep.note(line + f" - tolerated: {extra_ok[ckey[0]]}")
        else:
            rep.fail(line)
        for e in entries:
            match.cv_keys.setdefault(e, [])

    # Per matched tshark stream: counts, lost, payload types, codec, channel.
    for tkey, entries in match.by_tkey.items():
        ts = cap.streams[tkey]
        st = cap.stats.get(tkey)
        group = [k for k, v in match.by_tkey.items() if v == entries]
        t_total = sum(cap.streams[k].pkts for k in group)
        cv_total = cv_sum(entries, "packets") + cv_sum(entries, "duplicates")
        first_of_group = group[0] == tkey
        names = ", ".join(f"{calls[ci].get('sip_call_id')}" for ci, _ in entries)
        if len(entries) > 1:
            rep.note(f"streams: tshark stream {desc(tkey)} is split over {len(entries)} callvault entries "
                     f"(calls {names}); counts compared as sums, lost and audio not compared")
        if tkey[0] in truncated and cv_total != t_total:
            used.add(("tshark_truncated", tkey[0]))
            if cv_total < t_total:
                rep.fail(f"streams: {desc(tkey)}: callvault counts {cv_total} packets (packets + duplicates), "
                         f"fewer than tshark's {t_total} (tshark's view is truncated, but not shorter)")
            else:
                rep.note(f"streams: {desc(tkey)}: callvault {cv_total} packets vs tshark {t_total} - tolerated: "
                         f"{truncated[tkey[0]]}")
        elif first_of_group and cv_total != t_total:
            rep.fail(f"streams: {desc(tkey)} (call {names}): tshark counts {t_total} packets, callvault "
                     f"packets + duplicates = {cv_sum(entries, 'packets')} + {cv_sum(entries, 'duplicates')} "
                     f"= {cv_total}")
        for ci, si in entries:
            s = calls[ci]["streams"][si]
            cid = calls[ci].get("sip_call_id")
            where = f"call {cid} {desc(tkey)}"
            if st is None:
                continue
            exact = len(entries) == 1 and len(group) == 1 and tkey[0] not in truncated
            if exact:
                if s.get("duplicates") != st.duplicates:
                    rep.fail(f"streams: {where}: duplicates {s.get('duplicates')!r}, tshark's packets have "
                             f"{st.duplicates} repeated sequence numbers")
                if s.get("lost") != st.lost:
                    rep.fail(f"streams: {where}: lost {s.get('lost')!r}, but {st.lost} sequence numbers between "
                             f"the first and last seen were never seen (tshark 'Lost' {ts.lost} counts "
                             f"duplicates negatively)")
                pts = s.get("payload_types")
                if not isinstance(pts, list) or sorted(set(pts)) != st.pts:
                    rep.fail(f"streams: {where}: payload_types {pts!r}, tshark sees {st.pts}")
            audio_pts = sorted({p.pt for p in cap.rtp.get(tkey, []) if p.pt in AUDIO_PTS})
            if audio_pts and not st.srtp:
                if s.get("decoded") is not True:
                    rep.fail(f"streams: {where}: has {sum(1 for p in cap.rtp[tkey] if p.pt in AUDIO_PTS)} "
                             f"{'/'.join(AUDIO_PTS[x] for x in audio_pts)} packets but decoded is "
                             f"{s.get('decoded')!r}")
                if len(audio_pts) == 1 and s.get("codec") != AUDIO_PTS[audio_pts[0]]:
                    rep.fail(f"streams: {where}: codec {s.get('codec')!r}, packets are PT {audio_pts[0]} "
                             f"({AUDIO_PTS[audio_pts[0]]})")
            elif not audio_pts and s.get("decoded") is True:
                rep.fail(f"streams: {where}: decoded is true but tshark sees no PCMU/PCMA/G722 packet "
                         f"(payload types {st.pts})")
            ev = channel_evidence(cap, cid, tkey[1], tkey[2])
            if len(ev) == 1:
                want = next(iter(ev))
                if s.get("channel") != want:
                    rep.fail(f"streams: {where}: channel {s.get('channel')!r}, but the call's SDP says "
                             f"{want} (the party whose SDP names {ep_str(tkey[2])} receives it / "
                             f"{ep_str(tkey[1])} sends it)")
            elif len(ev) > 1:
                rep.note(f"streams: {where}: SDP evidence for the channel is contradictory {sorted(ev)}; "
                         f"callvault says {s.get('channel')!r}")
    for kind in ("tshark_truncated", "extra_streams", "missing_streams"):
        for ssrc in exc.get(kind, {}):
            if (kind, ssrc) not in used:
                rep.note(f"exception unused: {kind} {ssrc_str(ssrc)} (no such discrepancy this run)")
    return match


class Placement:
    __slots__ = ("pos", "samples", "n", "pkt", "label")

    def __init__(self, pos, samples, n, pkt, label):
        self.pos, self.samples, self.n, self.pkt, self.label = pos, samples, n, pkt, label


class CallModel:
    """What the WAV of one call must hold, per channel, from tshark's packets."""

    def __init__(self, rate: int):
        self.rate = rate
        self.placements: list[list[Placement]] = [[], []]
        self.unknown_from: list[int | None] = [None, None]  # channel unknown from here to the end
        self.length_known = True
        self.reanchors = 0
        self.skipped_notes: list[str] = []

    def end(self) -> int:
        return max((p.pos + p.n for ch in self.placements for p in ch), default=0)


def build_model(cap: CaptureData, call: dict, ci: int, match: StreamMatch, exc: dict, rep: Report,
                workdir: str) -> CallModel | None:
    cid = call.get("sip_call_id")
    rate = call.get("sample_rate")
    streams = call.get("streams") or []
    if rate not in (8000, 16000):
        rep.fail(f"call {cid}: sample_rate {rate!r} is not 8000 or 16000 although the call has audio")
        return None
    model = CallModel(rate)
    audio_skip = exc.get("audio_skip", {})
    truncated = exc.get("tshark_truncated", {})

    # Packets per callvault stream (from the tshark streams matched to it).
    per_stream: dict[int, list[RtpPacket]] = {}
    for si, s in enumerate(streams):
        keys = match.cv_keys.get((ci, si), [])
        shared = any(len(match.by_tkey.get(k, [])) > 1 for k in keys)
        if keys and not shared:
            pk = sorted((p for k in keys for p in cap.rtp.get(k, [])), key=lambda p: (p.t, p.frame))
            per_stream[si] = pk
    # T0: the first decodable-audio or CN packet bound to the call.
    firsts = {}
    for si, pk in per_stream.items():
        a = next((p for p in pk if p.pt in AUDIO_PTS or p.pt == CN_PT), None)
        if a is not None:
            firsts[si] = a
    # T0 is only certain when every decoded stream whose packets tshark does not show starts later.
    t0_certain = all(si in per_stream or (isinstance(s.get("offset_samples"), int) and s["offset_samples"] > 0)
                     for si, s in enumerate(streams) if isinstance(s, dict) and s.get("decoded") is True)
    t0 = min((p.t for p in firsts.values()), default=None)

    ssrc_anchor: dict = {}  # (ssrc, channel) -> (anchor position, anchor RTP timestamp) after its last stream
    for si, s in enumerate(streams):
        if not isinstance(s, dict) or s.get("decoded") is not True:
            continue
        ssrc = cv_stream_key(s)[0] if cv_stream_key(s) else None
        where = f"call {cid} ssrc {ssrc_str(ssrc) if ssrc is not None else '?'} ({s.get('channel')})"
        ch = 0 if s.get("channel") == "caller" else 1
        cv_off = s.get("offset_samples")
        if not isinstance(cv_off, int):
            rep.fail(f"{where}: offset_samples {cv_off!r} is not an integer")
            model.length_known = False
            continue
        pk = per_stream.get(si)
        if pk is None or si not in firsts:
            why = "no tshark packets" if si not in per_stream else "no audio/CN packet"
            if (ci, si) in match.cv_keys and any(len(match.by_tkey.get(k, [])) > 1 for k in match.cv_keys[(ci, si)]):
                why = "stream split over several calls"
            rep.note(f"{where}: {why}; channel {('left', 'right')[ch]} unknown from sample {cv_off}")
            uf = model.unknown_from[ch]
            model.unknown_from[ch] = cv_off if uf is None else min(uf, cv_off)
            model.length_known = False
            continue
        first = firsts[si]
        my_off = samples_for(first.t - t0, rate)
        # An SSRC already placed on this channel (the sender followed a re-INVITE to a new
        # address) continues its timeline (RECORDING_FORMAT.md), unless that is off by more
        # than the re-anchor threshold from capture time.
        inherited = ssrc_anchor.get((ssrc, ch))
        if inherited is not None:
            d = (first.ts - inherited[1]) & 0xFFFFFFFF
            d = d - (1 << 32) if d >= (1 << 31) else d
            pos_inh = inherited[0] + d * rate // 8000
            if abs(pos_inh - my_off) <= rate:
                my_off = pos_inh
        fp = parse_iso_ns(s.get("first_packet"))
        if fp is None or not (abs(fp - first.t) <= 1_000_000 or abs(fp - pk[0].t) <= 1_000_000):
            rep.fail(f"{where}: first_packet {s.get('first_packet')!r}, tshark's first packet is frame "
                     f"{first.frame} at {iso_ms(first.t)}")
        if t0_certain and my_off != cv_off:
            rep.fail(f"{where}: offset_samples {cv_off}, expected {my_off} = round((t_first - T0) * {rate}) "
                     f"with t_first = frame {first.frame}, T0 = the call's first audio/CN packet "
                     f"(frame {min(firsts.values(), key=lambda p: p.t).frame})")
        # Placement uses callvault's offset for the first packet (so content is checked even when the
        # offset is wrong); capture positions for re-anchoring relative to the matching T0.
        t0_eff = t0 if my_off == cv_off else first.t - (cv_off * NS) // rate
        skip_reason = None
        if ssrc in audio_skip:
            skip_reason = f"audio_skip: {audio_skip[ssrc]}"
            # Its layout is unspecified too (SRTP lengths, packets tshark does not dissect as
            # RTP): the channel is unknown from where the stream starts.
            uf = model.unknown_from[ch]
            model.unknown_from[ch] = cv_off if uf is None else min(uf, cv_off)
            model.length_known = False
        elif any(p.srtp for p in pk):
            skip_reason = "srtp: tshark dissects packets of it as SRTP (not in the exception table)"
        g722 = any(p.pt == 9 for p in pk)
        g711_at_16k = rate == 16000 and any(p.pt in (0, 8) for p in pk)
        if g722 and rate != 16000:
            rep.fail(f"{where}: carries G.722 but the call's sample_rate is {rate}")
        if g711_at_16k:
            model.skipped_notes.append(f"{where}: G.711 resampled to 16 kHz, content not compared (resampled)")
        g722_samples = {}
        if g722 and not skip_reason and rate == 16000:
            uniq = sorted((p for p in pk if p.pt == 9 and not p.dup), key=lambda p: p.ext)
            try:
                pcm = g722_decode_ffmpeg(b"".join(p.payload for p in uniq), workdir)
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                rep.fail(f"{where}: reference G.722 decode failed: {e}")
                pcm = None
            if pcm is not None:
                off = 0
                for p in uniq:
                    n = 2 * len(p.payload)
                    g722_samples[id(p)] = pcm[off:off + n] if off + n <= len(pcm) else None
                    off += n
        anchor_pos, anchor_ts = cv_off, first.ts
        started = False
        reordered = 0
        last_end = None
        for p in pk:
            if p.dup or not (p.pt in AUDIO_PTS or p.pt == CN_PT):
                continue
            if not started:
                if p is not first:
                    continue
                started = True
            cap_pos = samples_for(p.t - t0_eff, rate)
            d = (p.ts - anchor_ts) & 0xFFFFFFFF
            d = d - (1 << 32) if d >= (1 << 31) else d
            pos = anchor_pos + d * rate // 8000
            if p is not first and abs(pos - cap_pos) > rate:
                anchor_pos, anchor_ts, pos = cap_pos, p.ts, cap_pos
                model.reanchors += 1
                if g722:
                    model.skipped_notes.append(f"{where}: G.722 re-anchored at frame {p.frame}: decoder state "
                                               f"after it unspecified, later content not compared")
                    skip_reason = skip_reason or "G.722 after re-anchor"
            if p.pt == CN_PT:
                continue
            if p.pt == 9:
                n = 2 * len(p.payload)
                samples = g722_samples.get(id(p))
            elif rate == 8000:
                n = len(p.payload)
                samples = g711_decode(p.payload, p.pt)
            else:  # G.711 resampled to 16 kHz: filter tails may spill over, so widen the unknown span
                n = 2 * len(p.payload) + 128
                pos -= 64
                samples = None
                model.length_known = False
            if skip_reason or p.reordered:
                samples = None
                reordered += p.reordered
            label = (f"ssrc {ssrc_str(p.ssrc)} frame {p.frame} seq {p.seq} ts {p.ts} PT {p.pt}")
            model.placements[ch].append(Placement(pos, samples, n, p, label))
            last_end = pos + n
        ssrc_anchor[(ssrc, ch)] = (anchor_pos, anchor_ts)
        if reordered:
            model.skipped_notes.append(f"{where}: {reordered} reordered packet(s) not compared (reordered)")
        if skip_reason:
            model.skipped_notes.append(f"{where}: content not compared - {skip_reason}")
        if ssrc in truncated and last_end is not None:
            uf = model.unknown_from[ch]
            model.unknown_from[ch] = last_end if uf is None else min(uf, last_end)
            model.length_known = False
            model.skipped_notes.append(f"{where}: tshark_truncated - channel unknown after sample {last_end}")
    # Extra callvault streams (not in tshark) that are decoded: unknown from their offset.
    return model


class WavData:
    def __init__(self):
        self.channels = 0
        self.width = 0
        self.rate = 0
        self.frames = 0
        self.left = array.array("h")
        self.right = array.array("h")


def read_wav(path: str, rep: Report, where: str) -> WavData | None:
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            rep.fail(f"{where}: {path} is not a RIFF/WAVE file")
            return None
        riff_size = struct.unpack("<I", head[4:8])[0]
        if riff_size != size - 8:
            rep.fail(f"{where}: RIFF chunk size {riff_size} != file size - 8 = {size - 8} "
                     f"(header not finalised?)")
        data_size = None
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            cid, csize = struct.unpack("<4sI", f.read(8))
            if cid == b"fmt ":
                fmt_tag = struct.unpack("<H", f.read(2))[0]
                if fmt_tag != 1:
                    rep.fail(f"{where}: WAV format tag {fmt_tag}, expected 1 (PCM)")
            if cid == b"data":
                data_size = csize
                if pos + 8 + csize != size:
                    rep.fail(f"{where}: data chunk size {csize} does not end at the end of the file "
                             f"({size - pos - 8} bytes follow its header)")
                break
            pos += 8 + csize + (csize & 1)
        if data_size is None:
            rep.fail(f"{where}: no data chunk")
            return None
    w = WavData()
    try:
        with wave.open(path, "rb") as wf:
            w.channels, w.width, w.rate, w.frames = wf.getnchannels(), wf.getsampwidth(), wf.getframerate(), wf.getnframes()
            raw = wf.readframes(w.frames)
    except (wave.Error, EOFError) as e:
        rep.fail(f"{where}: the wave module cannot read {path}: {e}")
        return None
    if w.channels != 2 or w.width != 2:
        rep.fail(f"{where}: WAV has {w.channels} channel(s) of {8 * w.width} bits, expected 2 x 16")
        return None
    inter = array.array("h")
    inter.frombytes(raw[: len(raw) - len(raw) % 4])
    if sys.byteorder != "little":
        inter.byteswap()
    w.left, w.right = inter[0::2], inter[1::2]
    w.frames = len(w.left)
    return w


def _find_shift(actual: array.array, samples: array.array, pos: int, window: int) -> int | None:
    if samples is None or len(samples) < 16 or len(set(samples)) < 4:
        return None
    lo = max(0, pos - window)
    hay = actual[lo:pos + len(samples) + window].tobytes()
    needle = samples.tobytes()
    i = hay.find(needle)
    while i >= 0 and i % 2:
        i = hay.find(needle, i + 1)
    return None if i < 0 else lo + i // 2 - pos


def compare_model(cap: CaptureData, call: dict, model: CallModel, wav: WavData, rep: Report) -> dict:
    cid = call.get("sip_call_id")
    summary = {"compared": 0, "overlap": 0, "unknown": 0}
    exp_len = model.end()
    if model.length_known and wav.frames != exp_len:
        rep.fail(f"call {cid}: WAV has {wav.frames} samples per channel, the last packet ends at sample "
                 f"{exp_len} (the file ends at the last sample any packet covered)")
    for ch, (name, actual) in enumerate((("caller/left", wav.left), ("callee/right", wav.right))):
        n = max(wav.frames, exp_len)
        expected = array.array("h", bytes(2 * n))
        cover = bytearray(n)
        unknown = bytearray(n)
        owner: dict[int, Placement] = {}
        overlaps = 0
        for pl in model.placements[ch]:
            a, b = pl.pos, pl.pos + pl.n
            if a < 0 and pl.samples is None:
                a = 0
            if a < 0:
                rep.fail(f"call {cid} {name}: {pl.label} would be placed at negative sample {a}")
                continue
            if pl.samples is None or len(pl.samples) != pl.n:
                unknown[a:b] = b"\x01" * (b - a)
                cover[a:b] = b"\x01" * (b - a)
                continue
            if any(cover[a:b]):
                for i in range(a, b):
                    if cover[i]:
                        unknown[i] = 1
                        overlaps += 1
                    else:
                        expected[i] = pl.samples[i - a]
                        cover[i] = 1
            else:
                expected[a:b] = pl.samples
                cover[a:b] = b"\x01" * (b - a)
            owner[a] = pl
        uf = model.unknown_from[ch]
        if uf is not None and uf < n:
            unknown[max(uf, 0):n] = b"\x01" * (n - max(uf, 0))
        if overlaps:
            summary["overlap"] += overlaps
            rep.note(f"call {cid} {name}: {overlaps} samples where packets overlap (summed) not compared (overlap)")
        actual_full = actual if len(actual) >= n else actual + array.array("h", bytes(2 * (n - len(actual))))
        starts = sorted(owner)
        first_bad = None
        bad = 0
        i = 0
        while i < n:
            if unknown[i]:
                j = unknown.find(b"\x00", i)
                j = n if j < 0 else j
                summary["unknown"] += j - i
                i = j
                continue
            j = unknown.find(b"\x01", i)
            j = n if j < 0 else j
            summary["compared"] += j - i
            if expected[i:j] != actual_full[i:j]:
                for k in range(i, j):
                    if expected[k] != actual_full[k]:
                        bad += 1
                        if first_bad is None:
                            first_bad = k
            i = j
        if first_bad is None:
            continue
        k = first_bad
        if cover[k]:
            pl = owner[starts[bisect.bisect_right(starts, k) - 1]]
            off = k - pl.pos
            what = (f"{pl.label}, payload byte {off if pl.pkt.pt != 9 else off // 2}: expected "
                    f"{expected[k]}, WAV has {actual_full[k] if k < len(actual) else 'nothing (file too short)'}")
            shift = _find_shift(actual_full, pl.samples, pl.pos, 4 * model.rate)
            if shift is not None and shift != 0:
                what += f"; this packet's samples are in the WAV at {shift:+d} samples"
            elif shift is None and pl.samples is not None:
                other = wav.right if ch == 0 else wav.left
                oshift = _find_shift(other, pl.samples, pl.pos, 4 * model.rate)
                if oshift is not None:
                    what += (f"; this packet's samples are in the OTHER channel at {oshift:+d} samples "
                             f"(left = caller, right = callee)")
                else:
                    what += "; this packet's samples are not in the WAV nearby"
        else:
            what = f"no packet covers it, so it must be silence (0); WAV has {actual_full[k]}"
            nxt = next((s for s in starts if s > k), None)
            if nxt is not None:
                what += f" (next packet starts at {nxt}: {owner[nxt].label})"
        ctx_e = list(expected[k:k + 6])
        ctx_a = list(actual_full[k:k + 6])
        rep.fail(f"audio: call {cid} {name}: first differing sample {k} ({k / model.rate:.4f} s): {what}; "
                 f"expected[{k}:{k + 6}]={ctx_e} WAV={ctx_a}; {bad} of {summary['compared']} compared samples "
                 f"differ on this channel")
    return summary


def check_audio(cap: CaptureData, run: CvRun, calls: list[dict], match: StreamMatch, exc: dict, rep: Report,
                workdir: str) -> None:
    for ci, call in enumerate(calls):
        cid = call.get("sip_call_id")
        streams = [s for s in (call.get("streams") or []) if isinstance(s, dict)]
        decoded = [s for s in streams if s.get("decoded") is True]
        audio = call.get("audio")
        if not decoded:
            if audio is not None:
                rep.fail(f"call {cid}: audio {audio!r} but no stream is decoded")
            continue
        if not isinstance(audio, str):
            rep.fail(f"call {cid}: {len(decoded)} decoded stream(s) but audio is {audio!r}")
            continue
        u = str(call.get("uuid"))
        m = re.fullmatch(r"(\d{4}/\d{2}/\d{2})/" + re.escape(u) + r"\.wav", audio)
        if not m:
            rep.fail(f"call {cid}: audio path {audio!r} is not YYYY/MM/DD/<uuid>.wav")
        elif cid in cap.first_invite and m.group(1) not in {utc_date_path(t) for t in cap.first_invite[cid]}:
            rep.fail(f"call {cid}: audio path date {m.group(1)} is not the UTC date of the first INVITE "
                     f"({utc_date_path(min(cap.first_invite[cid]))})")
        path = os.path.join(run.outdir, audio)
        if not os.path.isfile(path):
            rep.fail(f"call {cid}: audio file {audio} does not exist")
            continue
        if call.get("sha256") != run.files.get(audio):
            rep.fail(f"call {cid}: sha256 {call.get('sha256')!r} in JSON, file has {run.files.get(audio)}")
        has_g722 = any(s.get("codec") == "G722" for s in streams) or any(
            p.pt == 9 for si in range(len(streams)) for k in match.cv_keys.get((ci, si), []) for p in cap.rtp.get(k, []))
        want_rate = 16000 if has_g722 else 8000
        if call.get("sample_rate") != want_rate:
            rep.fail(f"call {cid}: sample_rate {call.get('sample_rate')!r}, expected {want_rate} "
                     f"({'a' if has_g722 else 'no'} stream carries G.722)")
        wav = read_wav(path, rep, f"call {cid}")
        if wav is None:
            continue
        if wav.rate != call.get("sample_rate"):
            rep.fail(f"call {cid}: WAV rate {wav.rate} != JSON sample_rate {call.get('sample_rate')}")
        model = build_model(cap, call, ci, match, exc, rep, workdir)
        if model is None:
            continue
        for s in model.skipped_notes:
            rep.note(s)
        summary = compare_model(cap, call, model, wav, rep)
        rep.note(f"audio: call {cid}: {wav.frames} samples/channel at {wav.rate} Hz; compared "
                 f"{summary['compared']} channel-samples, skipped {summary['unknown']} unknown"
                 f"{f', {model.reanchors} re-anchor(s)' if model.reanchors else ''}")


def check_determinism(run1: CvRun, run2: CvRun, rep: Report) -> None:
    u1 = [c.get("uuid") for c in run1.calls]
    u2 = [c.get("uuid") for c in run2.calls]
    if sorted(map(str, u1)) != sorted(map(str, u2)):
        rep.fail(f"determinism: uuids differ between two runs: {sorted(set(map(str, u1)) ^ set(map(str, u2)))}")
    if run1.files != run2.files:
        diff = sorted(k for k in set(run1.files) | set(run2.files) if run1.files.get(k) != run2.files.get(k))
        rep.fail(f"determinism: output files differ between two runs (missing or different sha256): {diff[:10]}")
    if run1.stdout != run2.stdout:
        rep.fail("determinism: the JSON output differs between two runs")
    for run in (run1, run2):
        left = [k for k in run.files if k.endswith(".tmp") or os.path.basename(k).startswith(".")]
        if left:
            rep.fail(f"output: temporary files left behind in {run.outdir}: {left[:5]}")


# ---------------------------------------------------------------- driver --
class Config:
    callvault: str | None = None
    pcaps: Path = DEFAULT_PCAPS
    only: list[str] = []
    keep_tmp = False
    timeout = 300
    jobs = 2
    futures: dict[str, concurrent.futures.Future] = {}
    pool: concurrent.futures.ThreadPoolExecutor | None = None


CFG = Config()


def capture_names(pcaps: Path) -> list[str]:
    skip_ext = (".md", ".txt", ".json", ".sha256")
    return sorted(p.name for p in pcaps.iterdir()
                  if p.is_file() and not p.name.startswith(".") and not p.name.lower().endswith(skip_ext))


def get_capture(name: str) -> CaptureData:
    fut = CFG.futures.get(name)
    if fut is None:
        return load_capture(CFG.pcaps / name)
    return fut.result()


def emit_notes(rep: Report) -> None:
    for n in rep.notes:
        print(f"NOTE [{rep.capture}] {n}", file=sys.stderr)


def check_capture(tc: unittest.TestCase, name: str) -> None:
    exc = EXCEPTIONS.get(name, {})
    if "skip" in exc:
        tc.skipTest(f"exception: {exc['skip']}")
    cap = get_capture(name)
    if cap.errors:
        print(f"NOTE [{name}] tshark: {'; '.join(cap.errors[:5])}", file=sys.stderr)
    robustness = "robustness_only" in exc
    if not cap.qualifies and not robustness:
        extra = NOT_QUALIFYING_NOTES.get(name)
        tc.skipTest(f"does not qualify: {cap.why_not}" + (f" - {extra}" if extra else ""))
    rep = Report(name)
    tmp = tempfile.mkdtemp(prefix=f"cv-corpus-{re.sub(r'[^A-Za-z0-9]+', '_', name)}-")
    try:
        out1, out2, work = (os.path.join(tmp, d) for d in ("run1", "run2", "work"))
        for d in (out1, out2, work):
            os.makedirs(d)
        run1 = run_callvault(CFG.callvault, cap.path, out1, CFG.timeout)
        run2 = run_callvault(CFG.callvault, cap.path, out2, CFG.timeout)
        for i, run in enumerate((run1, run2), 1):
            if run.rc != 0:
                rep.fail(f"callvault run {i} exited with {run.rc}; stderr tail: {run.stderr.strip()[-1500:]}")
            for e in limited(run.json_errors, 5):
                rep.fail(f"callvault run {i}: {e}")
        if rep.problems:
            tc.fail(_format(rep))
        check_determinism(run1, run2, rep)
        if not robustness:
            check_calls(cap, run1.calls, rep)
            match = check_streams(cap, run1.calls, exc, rep)
            check_audio(cap, run1, run1.calls, match, exc, rep, work)
        else:
            rep.note(f"robustness only: {exc['robustness_only']}")
        rep.note(f"callvault {run1.elapsed:.2f}s + {run2.elapsed:.2f}s, tshark {cap.elapsed:.2f}s, "
                 f"{len(run1.calls)} call(s)")
        emit_notes(rep)
        if rep.problems:
            if CFG.keep_tmp:
                rep.problems.append(f"(outputs kept in {tmp})")
            tc.fail(_format(rep))
    finally:
        if not CFG.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def _format(rep: Report) -> str:
    lines = limited(rep.problems, 40)
    return f"{rep.capture}: {len(rep.problems)} problem(s)\n  - " + "\n  - ".join(lines)


class CorpusVsTshark(unittest.TestCase):
    """One test per capture file; generated in main()."""
    maxDiff = None


def _add_tests(names: list[str]) -> None:
    for name in names:
        def test(self, name=name):
            check_capture(self, name)
        test.__doc__ = name
        setattr(CorpusVsTshark, "test_" + re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_"), test)


# ------------------------------------------------------------- self-check --
def _pseudo_callvault(cap: CaptureData, outdir: str, workdir: str) -> list[dict]:
    """A callvault-like output built from tshark's view only (channels from SDP, calls from the
    SDP that names a stream's endpoints). Used to exercise the checker without callvault: the
    checker must accept it with zero problems, and catch a corrupted sample in it."""
    calls = {cid: {"uuid": str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"default|{cid}|{min(cap.first_invite[cid])}")),
                   "sip_call_id": cid, "start": iso_ms(min(cap.first_invite[cid])), "streams": []}
             for cid in sorted(cap.initial_callids)}
    for key, ts in sorted(cap.streams.items(), key=lambda kv: cap.rtp[kv[0]][0].t if kv[0] in cap.rtp else 0):
        if ts.cls != "audio" or key not in cap.rtp:
            continue
        pk = cap.rtp[key]
        cands = [cid for cid in calls if key[1] in cap.sdp_roles.get(cid, {}) or key[2] in cap.sdp_roles.get(cid, {})]
        if not cands:
            continue
        before = [c for c in cands if min(cap.first_invite[c]) <= pk[0].t]
        cid = max(before, key=lambda c: min(cap.first_invite[c])) if before else cands[0]
        ev = channel_evidence(cap, cid, key[1], key[2])
        st = cap.stats[key]
        audio_pts = sorted({p.pt for p in pk if p.pt in AUDIO_PTS})
        codec = AUDIO_PTS[audio_pts[0]] if audio_pts else STATIC_CODEC.get(st.pts[0], "unknown")
        calls[cid]["streams"].append({
            "ssrc": ssrc_str(key[0]), "src": ep_str(key[1]), "dst": ep_str(key[2]), "codec": codec,
            "payload_types": st.pts, "packets": st.unique, "lost": st.lost, "duplicates": st.duplicates,
            "channel": next(iter(ev)) if len(ev) == 1 else "caller",
            "decoded": bool(audio_pts) and not st.srtp, "first_packet": iso_ms(pk[0].t), "offset_samples": None})
    out = []
    for cid, call in calls.items():
        decoded = [s for s in call["streams"] if s["decoded"]]
        g722 = any(s["codec"] == "G722" for s in call["streams"])
        call["sample_rate"] = (16000 if g722 else 8000) if decoded else None
        call["audio"] = call["sha256"] = None
        if decoded:
            rate = call["sample_rate"]
            firsts = []
            for s in call["streams"]:
                key = cv_stream_key(s)
                a = next((p for p in cap.rtp[key] if p.pt in AUDIO_PTS or p.pt == CN_PT), None)
                firsts.append(a)
            t0 = min(p.t for p in firsts if p is not None)
            for s, a in zip(call["streams"], firsts):
                s["offset_samples"] = samples_for(a.t - t0, rate) if a is not None else None
            # Render the expected model into a WAV (overlaps summed with saturation).
            match = StreamMatch()
            ci = 0
            for si, s in enumerate(call["streams"]):
                k = cv_stream_key(s)
                match.by_tkey[k] = [(ci, si)]
                match.cv_keys[(ci, si)] = [k]
            rep = Report(cap.name)
            model = build_model(cap, call, ci, match, EXCEPTIONS.get(cap.name, {}), rep, workdir)
            if model is None or rep.problems:
                raise AssertionError(f"pseudo model failed: {rep.problems}")
            n = model.end()
            chans = [array.array("i", bytes(4 * n)), array.array("i", bytes(4 * n))]
            for ch in (0, 1):
                for pl in model.placements[ch]:
                    if pl.samples is not None:
                        for i, v in enumerate(pl.samples):
                            chans[ch][pl.pos + i] += v
            inter = array.array("h", bytes(4 * n))
            inter[0::2] = array.array("h", (max(-32768, min(32767, v)) for v in chans[0]))
            inter[1::2] = array.array("h", (max(-32768, min(32767, v)) for v in chans[1]))
            if sys.byteorder != "little":
                inter.byteswap()
            rel = f"{utc_date_path(min(cap.first_invite[cid]))}/{call['uuid']}.wav"
            os.makedirs(os.path.join(outdir, os.path.dirname(rel)), exist_ok=True)
            with wave.open(os.path.join(outdir, rel), "wb") as wf:
                wf.setnchannels(2)
                wf.setsampwidth(2)
                wf.setframerate(rate)
                wf.writeframes(inter.tobytes())
            call["audio"] = rel
            call["sha256"] = sha256_file(os.path.join(outdir, rel))
        out.append(call)
    return out


def self_check(names: list[str]) -> int:
    failures: list[str] = []

    def expect(cond, msg):
        if not cond:
            failures.append(msg)

    # G.711 against the ITU-T reference values and against audioop (an independent implementation).
    expect(ulaw_to_linear(0xFF) == 0, f"mu-law 0xFF -> {ulaw_to_linear(0xFF)}, want 0")
    expect(ulaw_to_linear(0x7F) == 0, f"mu-law 0x7F -> {ulaw_to_linear(0x7F)}, want 0")
    expect(ulaw_to_linear(0x00) == -32124, f"mu-law 0x00 -> {ulaw_to_linear(0x00)}, want -32124")
    expect(ulaw_to_linear(0x80) == 32124, f"mu-law 0x80 -> {ulaw_to_linear(0x80)}, want 32124")
    expect(alaw_to_linear(0xD5) == 8, f"A-law 0xD5 -> {alaw_to_linear(0xD5)}, want 8")
    expect(alaw_to_linear(0x55) == -8, f"A-law 0x55 -> {alaw_to_linear(0x55)}, want -8")
    expect(alaw_to_linear(0xAA) == 32256, f"A-law 0xAA -> {alaw_to_linear(0xAA)}, want 32256")
    expect(alaw_to_linear(0x2A) == -32256, f"A-law 0x2A -> {alaw_to_linear(0x2A)}, want -32256")
    try:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import audioop  # noqa: E402 (Debian python3.11 has it)
        allb = bytes(range(256))
        ref_u = array.array("h", audioop.ulaw2lin(allb, 2))
        ref_a = array.array("h", audioop.alaw2lin(allb, 2))
        expect(list(ref_u) == G711_TABLE_ULAW, "mu-law table differs from audioop.ulaw2lin")
        expect(list(ref_a) == G711_TABLE_ALAW, "A-law table differs from audioop.alaw2lin")
        print("G.711: all 256 mu-law and A-law codes equal audioop's expansion")
    except ImportError:
        print("G.711: audioop not available; checked the reference values only")

    print(f"\n{'capture':<36} {'ok':<3} {'calls':>5} {'strm':>4} {'aud':>3} {'g711':>4} {'g722':>4}  notes")
    tmp = tempfile.mkdtemp(prefix="cv-corpus-self-")
    try:
        for name in names:
            exc = EXCEPTIONS.get(name, {})
            if "skip" in exc:
                print(f"{name:<36} --  skipped by exception: {exc['skip'][:70]}")
                continue
            cap = get_capture(name)
            for e in cap.errors[:3]:
                failures.append(f"{name}: tshark parse: {e}")
            if not cap.qualifies and "robustness_only" not in exc:
                print(f"{name:<36} --  {cap.why_not}"
                      + (f" ({NOT_QUALIFYING_NOTES[name]})" if name in NOT_QUALIFYING_NOTES else ""))
                continue
            # Own packet view == tshark's stream table.
            for key, ts in cap.streams.items():
                st = cap.stats.get(key)
                if st is None:
                    failures.append(f"{name}: tshark stream {ssrc_str(key[0])} {ep_str(key[1])}->{ep_str(key[2])} has "
                                    f"no packets in the field output")
                    continue
                expect(st.count == ts.pkts, f"{name}: {ssrc_str(key[0])}: {st.count} packets in fields, "
                                            f"{ts.pkts} in rtp,streams")
                expect(st.lost - st.duplicates == ts.lost,
                       f"{name}: {ssrc_str(key[0])}: own lost {st.lost} - dups {st.duplicates} != tshark Lost {ts.lost}")
            notes = []
            g711 = g722 = 0
            for key, ts in cap.streams.items():
                pts = cap.stats[key].pts if key in cap.stats else []
                g711 += any(p in (0, 8) for p in pts)
                g722 += 9 in pts
                if ts.cls != "audio":
                    notes.append(f"{ssrc_str(key[0])} {ts.cls}")
                if key in cap.stats and cap.stats[key].srtp:
                    notes.append(f"{ssrc_str(key[0])} srtp({cap.stats[key].srtp})")
            n_audio = sum(1 for t in cap.streams.values() if t.cls == "audio")
            # End-to-end checker self-test on a pseudo output built from tshark's view.
            ok = "ok"
            if cap.qualifies and "robustness_only" not in exc:
                run = CvRun(os.path.join(tmp, re.sub(r"[^A-Za-z0-9]+", "_", name)))
                os.makedirs(run.outdir)
                work = os.path.join(run.outdir, ".work")
                os.makedirs(work)
                try:
                    calls = _pseudo_callvault(cap, run.outdir, work)
                except Exception as e:  # report and go on with the next capture
                    failures.append(f"{name}: pseudo output: {type(e).__name__}: {e}")
                    ok = "ERR"
                    calls = None
                if calls is not None:
                    shutil.rmtree(work)
                    os.makedirs(work)
                    for root, _, files in os.walk(run.outdir):
                        for fn in files:
                            full = os.path.join(root, fn)
                            run.files[os.path.relpath(full, run.outdir)] = sha256_file(full)
                    run.calls = calls
                    rep = Report(name)
                    check_calls(cap, calls, rep)
                    match = check_streams(cap, calls, exc, rep)
                    check_audio(cap, run, calls, match, exc, rep, work)
                    # Pseudo output keeps every 'audio' stream, so these rules never apply to it.
                    real = [p for p in rep.problems]
                    if real:
                        ok = "ERR"
                        failures.extend(f"{name}: checker rejects the reference output: {p}" for p in real)
                    reanch = sum(int(m.group(1)) for n in rep.notes for m in [re.search(r"(\d+) re-anchor", n)] if m)
                    if reanch:
                        notes.append(f"{reanch} re-anchor(s)")
                    notes += ["overlap" for n in rep.notes if "(overlap)" in n]
                    # Corrupt one compared sample: the checker must name it.
                    wavs = [c for c in calls if c.get("audio")]
                    if wavs:
                        c = wavs[0]
                        path = os.path.join(run.outdir, c["audio"])
                        with wave.open(path, "rb") as wf:
                            params = wf.getparams()
                            frames = bytearray(wf.readframes(wf.getnframes()))
                        model = build_model(cap, c, calls.index(c), match, exc, Report(name), work)
                        pl = next((p for ch in (0, 1) for p in model.placements[ch] if p.samples is not None
                                   and len(set(p.samples)) > 1), None)
                        if pl is not None:
                            ch = 0 if pl in model.placements[0] else 1
                            k = pl.pos + 3
                            off = 4 * k + 2 * ch
                            old = struct.unpack_from("<h", frames, off)[0]
                            struct.pack_into("<h", frames, off, old ^ 0x0101)
                            with wave.open(path, "wb") as wf:
                                wf.setparams(params)
                                wf.writeframes(bytes(frames))
                            run.files[c["audio"]] = sha256_file(path)
                            c["sha256"] = run.files[c["audio"]]
                            rep2 = Report(name)
                            check_audio(cap, run, calls, match, exc, rep2, work)
                            hit = [p for p in rep2.problems if f"first differing sample {k} " in p]
                            if not hit or len(rep2.problems) != 1:
                                ok = "ERR"
                                failures.append(f"{name}: corrupted sample {k} (channel {ch}) not reported "
                                                f"exactly: {rep2.problems[:3]}")
            print(f"{name:<36} {ok:<3} {len(cap.initial_callids):>5} {len(cap.streams):>4} {n_audio:>3} "
                  f"{g711:>4} {g722:>4}  {'; '.join(notes)[:150]}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    if failures:
        print(f"SELF-CHECK FAILED ({len(failures)}):")
        for f in limited(failures, 60):
            print(f"  - {f}")
        return 1
    print("self-check passed")
    return 0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--callvault", help="path to the callvault binary")
    ap.add_argument("--pcaps", help="captures directory (default $CALLVAULT_PCAPS or <repo>/../shared/pcaps)")
    ap.add_argument("--only", action="append", default=[], help="run only this capture (repeatable)")
    ap.add_argument("--self-check", action="store_true", help="tshark extraction and G.711/G.722 reference only")
    ap.add_argument("--keep-tmp", action="store_true", help="keep callvault outputs of failing captures")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per callvault run")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="parallel tshark runs")
    args, rest = ap.parse_known_args(argv[1:])

    ci = truthy_env("CI")
    pcaps = Path(args.pcaps or os.environ.get("CALLVAULT_PCAPS") or DEFAULT_PCAPS)

    def unavailable(msg: str) -> int:
        if ci:
            print(f"FAIL: {msg} (CI=true: the corpus test must run in CI)", file=sys.stderr)
            return 1
        print(f"SKIP: {msg}", file=sys.stderr)
        return SKIP_RC

    if not pcaps.is_dir():
        return unavailable(f"captures directory {pcaps} does not exist (set CALLVAULT_PCAPS)")
    for tool in ("tshark", "ffmpeg"):
        if shutil.which(tool) is None:
            return unavailable(f"{tool} is not installed")
    names = capture_names(pcaps)
    if args.only:
        wanted = [x for o in args.only for x in o.split(",") if x]
        unknown = [w for w in wanted if w not in names]
        if unknown:
            print(f"error: --only {unknown}: not in {pcaps}", file=sys.stderr)
            return 2
        names = [n for n in names if n in wanted]
    if not names:
        return unavailable(f"no captures in {pcaps}")

    CFG.pcaps = pcaps
    CFG.only = args.only
    CFG.keep_tmp = args.keep_tmp
    CFG.timeout = args.timeout
    CFG.callvault = args.callvault
    CFG.pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs))
    for n in names:  # tshark runs in the background, in the order the tests run
        if "skip" not in EXCEPTIONS.get(n, {}):
            CFG.futures[n] = CFG.pool.submit(load_capture, pcaps / n)
    try:
        if args.self_check:
            return self_check(names)
        if not args.callvault:
            print("error: --callvault PATH is required (or use --self-check)", file=sys.stderr)
            return 2
        if not (os.path.isfile(args.callvault) and os.access(args.callvault, os.X_OK)):
            print(f"FAIL: callvault binary {args.callvault} does not exist or is not executable", file=sys.stderr)
            return 1
        _add_tests(names)
        prog = unittest.main(argv=[argv[0]] + rest, exit=False, verbosity=2)
        return 0 if prog.result.wasSuccessful() else 1
    finally:
        for f in CFG.futures.values():
            f.cancel()
        CFG.pool.shutdown(wait=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
