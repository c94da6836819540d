// Reading frames from capture files through libpcap (pcap and pcapng).
//
// RAII over pcap_t. Frames are handed out as views into libpcap's buffer,
// valid until the next call, so reading costs no allocation per packet.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "capture/packet/packet.h"

namespace cv {

struct CapturedFrame {
  Timestamp ts;
  uint64_t number = 0;       // 1-based frame number within the file
  uint32_t wire_length = 0;  // original length on the wire
  Bytes data;                // captured bytes (may be shorter than wire_length)
};

enum class ReadStatus : uint8_t {
  kFrame,      // `frame` holds the next frame
  kEnd,        // clean end of file
  kTruncated,  // the file ends inside a record: everything before it was read
  kError,      // the file is corrupt at this point; error() says how
};

class PcapFileSource {
 public:
  // Opens a capture file. Returns nullptr and sets `error` to a message that
  // names the file and the problem when it is missing or not a capture.
  static std::unique_ptr<PcapFileSource> open(const std::string& path, std::string& error);
  ~PcapFileSource();
  PcapFileSource(const PcapFileSource&) = delete;
  PcapFileSource& operator=(const PcapFileSource&) = delete;

  ReadStatus next(CapturedFrame& frame);
  [[nodiscard]] LinkType link_type() const { return link_; }
  [[nodiscard]] int raw_link_type() const { return raw_link_; }
  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  PcapFileSource() = default;
  struct PcapCloser {
    void operator()(void* p) const;
  };
  std::unique_ptr<void, PcapCloser> handle_;
  LinkType link_ = LinkType::kEthernet;
  int raw_link_ = 0;
  uint64_t count_ = 0;
  std::string error_;
  std::string path_;
};

// True when the link type is one PacketDecoder understands.
bool is_supported_link_type(int dlt);

}  // namespace cv
