#!/usr/bin/python3
"""Seeds the fuzz targets from the real captures: whole frames for the packet
decoder (prefixed with the fuzz target's link-type selector), UDP payloads for
the RTP and SIP targets. Classic pcap files only (pcapng is skipped); standard
library only.

usage: make_seeds.py PCAP_DIR OUT_DIR   (writes OUT_DIR/<target>/<sha1>)
"""
import hashlib
import os
import struct
import sys

# fuzz_packet_decoder's selector (low 4 bits of byte 0) for each DLT.
DLT_TO_SELECTOR = {1: 0, 113: 4, 276: 5, 12: 6, 101: 7, 228: 8, 229: 9, 0: 10, 108: 11}
PER_FILE = 40


def frames(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return None, []
    dlt = struct.unpack(e + "I", data[20:24])[0] & 0xFFFF
    out, pos = [], 24
    while pos + 16 <= len(data):
        _, _, cap, _ = struct.unpack(e + "IIII", data[pos:pos + 16])
        pos += 16
        out.append(data[pos:pos + cap])
        pos += cap
    return dlt, out


def udp_payload(dlt, frame):
    """Ethernet (+ one VLAN tag) / IPv4 / UDP only: enough for seeds."""
    if dlt != 1 or len(frame) < 14:
        return None
    off, etype = 14, struct.unpack(">H", frame[12:14])[0]
    if etype == 0x8100 and len(frame) >= 18:
        off, etype = 18, struct.unpack(">H", frame[16:18])[0]
    if etype != 0x0800 or len(frame) < off + 20:
        return None
    ihl = (frame[off] & 15) * 4
    if frame[off + 9] != 17 or len(frame) < off + ihl + 8:
        return None
    return frame[off + ihl + 8:]


def write(out_dir, target, blob, counts):
    d = os.path.join(out_dir, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(blob).hexdigest()), "wb") as f:
        f.write(blob)
    counts[target] = counts.get(target, 0) + 1


def pipeline_seed():
    """A call the fuzz_pipeline target understands: endpoint i is 10.0.0.(1 + i%4),
    port (5060, 4000, 4002, 20000)[i//4]."""
    def sdp(ip, port):
        return (f"v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
                f"m=audio {port} RTP/AVP 0 9 101\r\na=rtpmap:101 telephone-event/8000\r\n")

    def sip(start, tags, cseq, method, body=""):
        head = (f"{start}\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK{cseq}\r\n"
                f"From: <sip:101@pbx>;tag={tags[0]}\r\nTo: <sip:202@pbx>{tags[1]}\r\n"
                f"Call-ID: seed@pbx\r\nCSeq: {cseq} {method}\r\n")
        if body:
            head += "Content-Type: application/sdp\r\n"
        return (head + f"Content-Length: {len(body)}\r\n\r\n{body}").encode()

    def rec(src, dst, step, payload):
        return bytes([src | dst << 4, step]) + struct.pack(">H", len(payload)) + payload

    def rtp(seq, ts, pt, payload):
        return struct.pack(">BBHII", 0x80, pt, seq, ts, 0x1234 + pt) + payload

    out = rec(0, 1, 0, sip("INVITE sip:202@pbx SIP/2.0", ("a", ""), 1, "INVITE", sdp("10.0.0.1", 4000)))
    out += rec(1, 0, 5, sip("SIP/2.0 200 OK", ("a", ";tag=b"), 1, "INVITE", sdp("10.0.0.2", 4002)))
    for i in range(6):
        out += rec(4, 9, 2, rtp(100 + i, 160 * i, 0, bytes(range(160))))
        out += rec(9, 4, 0, rtp(7 + i, 320 * i, 9, bytes(range(160))))
    out += rec(4, 9, 2, rtp(106, 960, 101, bytes([5, 0x80, 0, 160])))
    out += rec(0, 1, 10, sip("BYE sip:202@pbx SIP/2.0", ("a", ";tag=b"), 2, "BYE"))
    return out


def main():
    pcaps, out = sys.argv[1], sys.argv[2]
    counts = {}
    for name in sorted(os.listdir(pcaps)):
        dlt, fr = frames(os.path.join(pcaps, name))
        if dlt is None:
            continue
        rtp = sip = 0
        for i, frame in enumerate(fr):
            if dlt in DLT_TO_SELECTOR and i < PER_FILE:
                write(out, "packet_decoder", bytes([DLT_TO_SELECTOR[dlt]]) + frame, counts)
            p = udp_payload(dlt, frame)
            if not p:
                continue
            if (p[0] & 0xC0) == 0x80 and rtp < 8:
                write(out, "rtp", p, counts)
                rtp += 1
            elif 65 <= p[0] <= 90 and sip < 8:
                write(out, "sip_message", p, counts)
                sip += 1
    write(out, "pipeline", pipeline_seed(), counts)
    print(" ".join(f"{k}={v}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    main()
