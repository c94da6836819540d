// The catalogue of malformed or unexpected input callvault can meet.
//
// Like Suricata's decode-events.h and Zeek's "weird" list: every anomaly has a
// name, a counter and a rate-limited warning naming the frame. Parsers never
// throw on the packet path; they return an Anomaly and the caller counts it.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace cv {

#define CV_ANOMALIES(X)                                                                                    \
  X(kNone, "none", "no anomaly")                                                                           \
  X(kCaptureTruncated, "capture_truncated", "capture file ends inside a record")                           \
  X(kCaptureCorrupt, "capture_corrupt", "capture file record could not be read")                           \
  X(kUnsupportedLinkType, "unsupported_link_type", "link type callvault does not decode")                  \
  X(kLinkTruncated, "link_truncated", "link-layer header longer than captured bytes")                      \
  X(kVlanTooDeep, "vlan_too_deep", "more 802.1Q tags than callvault follows")                              \
  X(kIpv4Truncated, "ipv4_truncated", "IPv4 header longer than captured bytes")                            \
  X(kIpv4BadVersion, "ipv4_bad_version", "IP version field is not 4 or 6")                                 \
  X(kIpv4BadHeaderLength, "ipv4_bad_header_length", "IPv4 IHL below 5 or beyond packet")                   \
  X(kIpv4BadTotalLength, "ipv4_bad_total_length", "IPv4 total length beyond captured")                     \
  X(kIpv6Truncated, "ipv6_truncated", "IPv6 header or extension beyond captured bytes")                    \
  X(kIpv6BadPayloadLength, "ipv6_bad_payload_length", "IPv6 payload length beyond captured")               \
  X(kFragmentBad, "fragment_bad", "IP fragment with impossible offset or length")                          \
  X(kFragmentOverlap, "fragment_overlap", "IP fragments overlap with different bytes")                     \
  X(kFragmentTableFull, "fragment_table_full", "fragment table full, oldest evicted")                      \
  X(kFragmentTimeout, "fragment_timeout", "IP datagram never completed, fragments expired")                \
  X(kFragmentTooLarge, "fragment_too_large", "reassembled datagram over 65535 bytes")                      \
  X(kFragmentTooManyPieces, "fragment_too_many_pieces",                                                    \
    "IP datagram held in more separate pieces than tracked")                                               \
  X(kUdpTruncated, "udp_truncated", "UDP header or payload beyond captured bytes")                         \
  X(kUdpBadLength, "udp_bad_length", "UDP length field below header size")                                 \
  X(kTcpTruncated, "tcp_truncated", "TCP header beyond captured bytes")                                    \
  X(kTcpBadHeaderLength, "tcp_bad_header_length", "TCP data offset below 5 words")                         \
  X(kSipMalformed, "sip_malformed", "SIP message that does not parse")                                     \
  X(kSipMissingHeader, "sip_missing_header", "SIP message without Call-ID, CSeq, From or To")              \
  X(kSipBadContentLength, "sip_bad_content_length", "SIP Content-Length disagrees with the bytes present") \
  X(kSdpMalformed, "sdp_malformed", "SDP body that does not parse")                                        \
  X(kRtpMalformed, "rtp_malformed", "RTP header invalid or longer than the packet")                        \
  X(kRtpUnsupportedCodec, "rtp_unsupported_codec", "RTP payload type callvault cannot decode")             \
  X(kCallTableFull, "call_table_full", "call table full, oldest call evicted")                             \
  X(kMediaTableFull, "media_table_full", "media address table full, oldest entry evicted")                 \
  X(kStreamTableFull, "stream_table_full", "too many RTP streams in one call")                             \
  X(kDecodeError, "decode_error", "codec rejected a payload")                                              \
  X(kOutputError, "output_error", "recording could not be written")                                        \
  X(kTunnelTruncated, "tunnel_truncated", "GRE or ERSPAN header longer than captured bytes")               \
  X(kTimestampJump, "timestamp_jump", "packet time jumped by more than an hour and was not trusted")       \
  X(kAudioBeyondLimit, "audio_beyond_limit", "audio placed beyond the longest call callvault writes")      \
  X(kTcpGap, "tcp_gap", "TCP bytes the capture never saw; the stream resumed at the next message")         \
  X(kTcpConnectionOverflow, "tcp_connection_overflow",                                                     \
    "TCP connection held more bytes than its limit; its oldest data dropped")                              \
  X(kTcpSegmentOverflow, "tcp_segment_overflow",                                                           \
    "more out-of-order TCP segments held than the limit; the hole before them skipped")                    \
  X(kTcpTableFull, "tcp_table_full", "TCP connection table full, least recently active evicted")           \
  X(kTcpMemoryFull, "tcp_memory_full", "TCP reassembly memory full, least recently active connection evicted")

enum class Anomaly : uint16_t {
#define CV_ANOMALY_ENUM(id, name, text) id,
  CV_ANOMALIES(CV_ANOMALY_ENUM)
#undef CV_ANOMALY_ENUM
      kCount
};

constexpr size_t kAnomalyCount = static_cast<size_t>(Anomaly::kCount);

std::string_view anomaly_name(Anomaly a);
std::string_view anomaly_description(Anomaly a);

// Plain counters, one per anomaly; owned by one pipeline shard (no atomics on
// the packet path) and summed when statistics are reported.
struct AnomalyCounters {
  std::array<uint64_t, kAnomalyCount> count{};
  uint64_t total = 0;  // sum of all counts: lets a caller see cheaply whether a step added one
  void add(Anomaly a) {
    ++count[static_cast<size_t>(a)];
    ++total;
  }
  [[nodiscard]] uint64_t get(Anomaly a) const { return count[static_cast<size_t>(a)]; }
  AnomalyCounters& operator+=(const AnomalyCounters& o) {
    for (size_t i = 0; i < kAnomalyCount; ++i) count[i] += o.count[i];
    total += o.total;
    return *this;
  }
};

}  // namespace cv
