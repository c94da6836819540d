#include "capture/source/pcap_source.h"

#include <pcap/pcap.h>

#include <cstring>

namespace cv {

void PcapFileSource::PcapCloser::operator()(void* p) const {
  if (p) pcap_close(static_cast<pcap_t*>(p));
}

bool is_supported_link_type(int dlt) {
  switch (dlt) {
    case DLT_NULL:
    case DLT_EN10MB:
    case DLT_RAW:
    case 101:  // LINKTYPE_RAW
    case DLT_LOOP:
    case DLT_LINUX_SLL:
    case 228:  // LINKTYPE_IPV4
    case 229:  // LINKTYPE_IPV6
    case 276:  // LINKTYPE_LINUX_SLL2
      return true;
    default:
      return false;
  }
}

std::unique_ptr<PcapFileSource> PcapFileSource::open(const std::string& path, std::string& error) {
  char errbuf[PCAP_ERRBUF_SIZE] = {0};
  // Nanosecond precision keeps pcapng timestamps exact; libpcap scales
  // microsecond files up.
  pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (!p) {
    error = path + ": cannot read as a pcap or pcapng capture: " + errbuf;
    return nullptr;
  }
  std::unique_ptr<PcapFileSource> s(new PcapFileSource());
  s->handle_.reset(p);
  s->path_ = path;
  s->raw_link_ = pcap_datalink(p);
  if (s->raw_link_ == DLT_RAW) {
    s->link_ = LinkType::kRaw;
  } else {
    s->link_ = static_cast<LinkType>(s->raw_link_);
  }
  if (!is_supported_link_type(s->raw_link_)) {
    const char* name = pcap_datalink_val_to_name(s->raw_link_);
    error = path + ": link type " + std::to_string(s->raw_link_) + " (" + (name ? name : "unknown") +
            ") is not supported; callvault reads Ethernet, Linux cooked (SLL/SLL2), raw IP and BSD loopback";
    return nullptr;
  }
  return s;
}

PcapFileSource::~PcapFileSource() = default;

ReadStatus PcapFileSource::next(CapturedFrame& frame) {
  auto* p = static_cast<pcap_t*>(handle_.get());
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  int rc = pcap_next_ex(p, &hdr, &data);
  if (rc == 1) {
    ++count_;
    frame.number = count_;
    // pcap stores seconds as an unsigned 32-bit number (good until 2106);
    // libpcap hands them over sign-extended, which turns 2038-2106 into 1902-1970.
    int64_t sec = hdr->ts.tv_sec;
    if (sec < 0 && sec >= -0x80000000LL) sec += 0x100000000LL;
    frame.ts = Timestamp::from_sec_nsec(sec, hdr->ts.tv_usec);  // nsec precision requested
    frame.wire_length = hdr->len;
    frame.data = Bytes(reinterpret_cast<const std::byte*>(data), hdr->caplen);
    return ReadStatus::kFrame;
  }
  if (rc == PCAP_ERROR_BREAK) return ReadStatus::kEnd;
  error_ = pcap_geterr(p);
  // libpcap reports a file cut inside a record as "truncated dump file".
  if (error_.find("truncated") != std::string::npos) return ReadStatus::kTruncated;
  return ReadStatus::kError;
}

}  // namespace cv
