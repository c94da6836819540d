// What the index stores about one finished call and about capture coverage.
// These are owning copies: they leave the packet thread, wait in the writer's
// queue, are journaled to disk and inserted into PostgreSQL later.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace cv {

// Times are nanoseconds since the Unix epoch (UTC), as the capture gave them.
struct IndexedStream {
  uint32_t ssrc = 0;
  std::string src_ip;
  uint16_t src_port = 0;
  std::string dst_ip;
  uint16_t dst_port = 0;
  std::string codec;  // "PCMU", "PCMA", "G722", an SDP name, or "unknown"
  std::vector<uint8_t> payload_types;
  uint64_t packets = 0;
  uint64_t lost = 0;
  uint64_t duplicates = 0;
  uint64_t late = 0;
  std::string channel;  // "caller" or "callee"
  bool decoded = false;
  int64_t first_packet_ns = 0;
  int64_t offset_samples = -1;
};

struct IndexedDtmf {
  char digit = 0;
  int64_t at_ns = 0;
  uint32_t duration_ms = 0;
  std::string channel;  // "caller" or "callee"
  std::string source;   // "rfc4733" or "sip_info"
};

struct IndexedCall {
  std::string uuid;  // the recording's uuid (docs/RECORDING_FORMAT.md), the key
  std::string sensor;
  std::string session;  // uuid of the capture session that recorded it
  std::string sip_call_id;
  int64_t start_ns = 0;   // first INVITE
  int64_t answer_ns = 0;  // 0: never answered
  int64_t end_ns = 0;
  std::string caller;
  std::string callee;
  std::string direction;  // "incoming", "outgoing", "internal", "unknown"
  std::vector<std::string> codecs;
  double duration_s = 0;  // audio length, or signalling length without audio
  bool answered = false;
  bool joined_mid_call = false;
  int final_status = 0;
  std::string end_reason;
  // Audio: empty path when no file was written (no media, or a write error).
  std::string audio_path;  // relative to the audio directory
  uint64_t audio_bytes = 0;
  std::string audio_sha256;
  uint32_t sample_rate = 0;
  int64_t audio_start_ns = 0;
  std::string audio_error;
  std::vector<IndexedStream> streams;
  std::vector<IndexedDtmf> dtmf;
};

// One capture session: a replay of files, or a live capture on an interface.
// Written when it starts and again when it stops (stopped_ns != 0).
struct CaptureSessionRecord {
  std::string uuid;
  std::string sensor;
  std::string kind;    // "replay" or "live"
  std::string source;  // files or interface
  int64_t started_ns = 0;
  int64_t stopped_ns = 0;  // 0 while running
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t kernel_drops = 0;
  uint64_t interface_drops = 0;
  uint64_t rtp_unmatched = 0;
  uint64_t calls = 0;
  uint64_t calls_without_media = 0;
  uint64_t index_records_lost = 0;  // calls that could be neither journaled nor inserted
  std::string stop_reason;          // "end_of_input", "signal", "error: ..."
};

// R1 coverage: what the capture saw during one interval of a session.
struct CoverageInterval {
  std::string session;
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t kernel_drops = 0;     // dropped by the kernel in this interval
  uint64_t interface_drops = 0;  // dropped by the NIC/driver in this interval
  uint64_t rtp_unmatched = 0;    // RTP-looking packets that belonged to no call
  uint64_t sip_messages = 0;
  uint64_t calls_started = 0;
  uint64_t calls_without_media = 0;  // calls that ended in this interval with no media seen
  uint64_t malformed = 0;            // packets counted as malformed or unexpected
};

using IndexRecord = std::variant<IndexedCall, CaptureSessionRecord, CoverageInterval>;

}  // namespace cv
