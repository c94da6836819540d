#include "capture/source/pcap_live_source.h"

#include <pcap/pcap.h>
#include <poll.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace cv {
namespace {

constexpr unsigned kIffUp = 0x1;  // IFF_UP in /sys/class/net/IF/flags

// A number from /sys/class/net/<if>/<file>, or -1 when there is none
// ("any", or an interface without that statistic).
int64_t read_sysfs_number(const std::string& interface, const char* file, int base) {
  if (interface.empty() || interface.find('/') != std::string::npos) return -1;
  std::ifstream in("/sys/class/net/" + interface + "/" + file);
  std::string text;
  if (!(in >> text)) return -1;
  try {
    return static_cast<int64_t>(std::stoull(text, nullptr, base));
  } catch (...) {
    return -1;
  }
}

bool interface_exists(const std::string& interface) {
  struct stat st {};
  return !interface.empty() && interface.find('/') == std::string::npos &&
         ::stat(("/sys/class/net/" + interface).c_str(), &st) == 0;
}

struct FilterProgram {
  bpf_program prog{};
  bool compiled = false;
  ~FilterProgram() {
    if (compiled) pcap_freecode(&prog);
  }
};

bool apply_filter(pcap_t* p, const std::string& interface, const std::string& filter, std::string& error) {
  FilterProgram f;
  if (pcap_compile(p, &f.prog, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    error = "capture filter \"" + filter + "\" on " + interface +
            " is not a valid BPF expression: " + pcap_geterr(p);
    return false;
  }
  f.compiled = true;
  if (pcap_setfilter(p, &f.prog) != 0) {
    error = "capture filter \"" + filter + "\" cannot be set on " + interface + ": " + pcap_geterr(p);
    return false;
  }
  return true;
}

}  // namespace

bool valid_capture_filter(const std::string& filter, std::string& error) {
  std::unique_ptr<pcap_t, void (*)(pcap_t*)> dead(pcap_open_dead(DLT_EN10MB, 65535), pcap_close);
  if (!dead) {
    error = "libpcap cannot check filters";
    return false;
  }
  FilterProgram f;
  if (pcap_compile(dead.get(), &f.prog, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    error = std::string("not a valid BPF expression: ") + pcap_geterr(dead.get());
    return false;
  }
  f.compiled = true;
  return true;
}

bool valid_interface_name(const std::string& name) {
  if (name.empty() || name.size() > 15 || name == "." || name == "..") return false;
  for (char ch : name)
    if (ch == '/' || ch == ':' || static_cast<unsigned char>(ch) <= ' ' || ch == 0x7f) return false;
  return true;
}

void PcapLiveSource::PcapCloser::operator()(void* p) const {
  if (p) pcap_close(static_cast<pcap_t*>(p));
}

PcapLiveSource::~PcapLiveSource() = default;

std::unique_ptr<PcapLiveSource> PcapLiveSource::open(const LiveCaptureOptions& options, std::string& error) {
  const std::string& ifname = options.interface;
  if (ifname.empty()) {
    error = "no capture interface given (--interface or [capture] interface)";
    return nullptr;
  }
  // libpcap on Linux opens a down interface without complaint and then sees
  // nothing; the operator must hear it now. ("any" has no sysfs entry.)
  if (!valid_interface_name(ifname)) {
    error = "capture interface \"" + ifname +
            "\" is not an interface name (1-15 characters, no '/', ':' or spaces)";
    return nullptr;
  }
  if (ifname != "any") {
    if (!interface_exists(ifname)) {
      error = "capture interface " + ifname + ": no such network interface (see `ip link`)";
      return nullptr;
    }
    const int64_t flags = read_sysfs_number(ifname, "flags", 16);
    if (flags >= 0 && !(static_cast<uint64_t>(flags) & kIffUp)) {
      error = "capture interface " + ifname + " is down; bring it up first (ip link set " + ifname + " up)";
      return nullptr;
    }
  }
  char errbuf[PCAP_ERRBUF_SIZE] = {0};
  pcap_t* p = pcap_create(ifname.c_str(), errbuf);
  if (!p) {
    error = "capture interface " + ifname + ": " + errbuf;
    return nullptr;
  }
  std::unique_ptr<PcapLiveSource> s(new PcapLiveSource());
  s->handle_.reset(p);
  s->options_ = options;
  pcap_set_snaplen(p, options.snaplen);
  pcap_set_promisc(p, 1);
  pcap_set_timeout(p, options.timeout_ms);
  pcap_set_immediate_mode(p, 0);
  pcap_set_buffer_size(p, options.buffer_mb * 1024 * 1024);
  pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);
  const int rc = pcap_activate(p);
  if (rc < 0) {
    const std::string detail = pcap_geterr(p);
    switch (rc) {
      case PCAP_ERROR_NO_SUCH_DEVICE:
        error = "capture interface " + ifname + ": no such network interface (" + detail + ")";
        break;
      case PCAP_ERROR_PERM_DENIED:
      case PCAP_ERROR_PROMISC_PERM_DENIED:
        error = "capture interface " + ifname +
                ": permission denied; run as root or give the binary CAP_NET_RAW (setcap cap_net_raw+ep) (" +
                detail + ")";
        break;
      case PCAP_ERROR_IFACE_NOT_UP:
        error = "capture interface " + ifname + " is down; bring it up first (" + detail + ")";
        break;
      default:
        error = "capture interface " + ifname + ": cannot start capturing: " + pcap_statustostr(rc) +
                (detail.empty() ? "" : " (" + detail + ")");
    }
    return nullptr;
  }
  s->raw_link_ = pcap_datalink(p);
  s->link_ = s->raw_link_ == DLT_RAW ? LinkType::kRaw : static_cast<LinkType>(s->raw_link_);
  if (!is_supported_link_type(s->raw_link_)) {
    const char* name = pcap_datalink_val_to_name(s->raw_link_);
    error = "capture interface " + ifname + ": link type " + std::to_string(s->raw_link_) + " (" +
            (name ? name : "unknown") + ") is not supported";
    return nullptr;
  }
  if (!options.filter.empty() && !apply_filter(p, ifname, options.filter, error)) return nullptr;
  // libpcap's own wait on a TPACKET_V3 ring has no timeout while no block is
  // being filled: an idle interface would block forever, deaf to signals and
  // with time standing still. We poll with a timeout ourselves instead.
  if (pcap_setnonblock(p, 1, errbuf) != 0) {
    error = "capture interface " + ifname + ": cannot switch to non-blocking reads: " + errbuf;
    return nullptr;
  }
  s->fd_ = pcap_get_selectable_fd(p);
  if (s->fd_ < 0) {
    error = "capture interface " + ifname + ": libpcap offers no descriptor to wait on";
    return nullptr;
  }
  s->rx_dropped_at_start_ = read_sysfs_number(ifname, "statistics/rx_dropped", 10);
  return s;
}

void PcapLiveSource::on_packet(unsigned char* user, const pcap_pkthdr* hdr, const unsigned char* data) {
  auto* self = reinterpret_cast<PcapLiveSource*>(user);
  CapturedFrame& f = self->frame_;
  f.number = ++self->count_;
  f.ts = Timestamp::from_sec_nsec(hdr->ts.tv_sec, hdr->ts.tv_usec);  // nanoseconds requested
  f.wire_length = hdr->len;
  f.data = Bytes(reinterpret_cast<const std::byte*>(data), hdr->caplen);
  self->fn_(self->ctx_, f);
}

int PcapLiveSource::dispatch_raw(FrameFn fn, void* ctx) {
  auto* p = static_cast<pcap_t*>(handle_.get());
  fn_ = fn;
  ctx_ = ctx;
  // Wait for a retired block (full, or partly filled and older than the
  // timeout). A signal interrupts the wait (handlers without SA_RESTART).
  pollfd pfd{fd_, POLLIN, 0};
  const int ready = ::poll(&pfd, 1, options_.timeout_ms);
  if (ready < 0 && errno != EINTR) {
    error_ = "capture on " + options_.interface + " failed: poll: " + std::strerror(errno);
    return -1;
  }
  const int n = pcap_dispatch(p, -1, &PcapLiveSource::on_packet, reinterpret_cast<unsigned char*>(this));
  if (n >= 0) return n;
  if (n == PCAP_ERROR_BREAK) return 0;
  error_ = "capture on " + options_.interface + " failed: " + pcap_geterr(p);
  return -1;
}

void PcapLiveSource::break_loop() { pcap_breakloop(static_cast<pcap_t*>(handle_.get())); }

bool PcapLiveSource::set_filter(const std::string& filter, std::string& error) {
  auto* p = static_cast<pcap_t*>(handle_.get());
  // An empty filter means everything: BPF's "" compiles to accept-all.
  return apply_filter(p, options_.interface, filter, error) && (options_.filter = filter, true);
}

bool PcapLiveSource::stats(LiveCaptureStats& out, std::string& error) {
  auto* p = static_cast<pcap_t*>(handle_.get());
  pcap_stat ps{};
  if (pcap_stats(p, &ps) != 0) {
    error = "capture statistics of " + options_.interface + " unavailable: " + pcap_geterr(p);
    return false;
  }
  // libpcap accumulates these as 32-bit counters: follow them across wraps.
  auto follow = [](uint64_t total, u_int now) {
    const auto delta = static_cast<uint32_t>(now - static_cast<uint32_t>(total));
    return total + delta;
  };
  out.received = follow(out.received, ps.ps_recv);
  out.kernel_drops = follow(out.kernel_drops, ps.ps_drop);
  // ps_ifdrop holds the NIC's missed/FIFO errors; frames the kernel dropped
  // before any packet socket saw them (a full backlog queue) show up only in
  // the interface's rx_dropped. Both are losses for the recorder (R1).
  uint64_t ifdrop = ps.ps_ifdrop;
  const int64_t rx_dropped = read_sysfs_number(options_.interface, "statistics/rx_dropped", 10);
  if (rx_dropped_at_start_ >= 0 && rx_dropped >= rx_dropped_at_start_)
    ifdrop += static_cast<uint64_t>(rx_dropped - rx_dropped_at_start_);
  out.interface_drops = std::max(out.interface_drops, ifdrop);
  return true;
}

}  // namespace cv
