#include "capture/source/dpdk_source.h"

#include <cctype>

#ifdef CALLVAULT_HAVE_DPDK
#include <pcap/pcap.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_mempool.h>

#include <algorithm>
#include <ctime>
#include <vector>
#endif

namespace cv {

bool valid_dpdk_port_name(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  for (char ch : name)
    if (ch == '/' || static_cast<unsigned char>(ch) <= ' ' || ch == 0x7f) return false;
  return true;
}

bool split_eal_args(const std::string& text, std::vector<std::string>& out, std::string& error) {
  out.clear();
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (quote == '\'') {
      if (ch == '\'')
        quote = 0;
      else
        word += ch;
      continue;
    }
    if (ch == '\\' && i + 1 < text.size() && (quote == 0 || text[i + 1] == '"' || text[i + 1] == '\\')) {
      word += text[++i];
      in_word = true;
      continue;
    }
    if (quote == '"') {
      if (ch == '"')
        quote = 0;
      else
        word += ch;
      continue;
    }
    if (ch == '\'' || ch == '"') {
      quote = ch;
      in_word = true;
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(ch))) {
      if (in_word) out.push_back(std::move(word));
      word.clear();
      in_word = false;
      continue;
    }
    word += ch;
    in_word = true;
  }
  if (quote != 0) {
    error = std::string("unterminated ") + (quote == '"' ? "double" : "single") + " quote";
    return false;
  }
  if (in_word) out.push_back(std::move(word));
  return true;
}

#ifndef CALLVAULT_HAVE_DPDK

bool dpdk_available() { return false; }

struct DpdkSource::Impl {};

DpdkSource::~DpdkSource() = default;

std::unique_ptr<DpdkSource> DpdkSource::open(const DpdkCaptureOptions&, std::string& error) {
  error =
      "this callvault was built without DPDK support (the backend is built when Debian's dpdk-dev is "
      "installed at build time); use --backend pcap";
  return nullptr;
}

int DpdkSource::dispatch_raw(FrameFn, void*) { return -1; }
bool DpdkSource::set_filter(const std::string&, std::string& error) {
  error = "no DPDK support in this build";
  return false;
}
bool DpdkSource::stats(LiveCaptureStats&, std::string& error) {
  error = "no DPDK support in this build";
  return false;
}

#else  // CALLVAULT_HAVE_DPDK

bool dpdk_available() { return true; }

namespace {

constexpr uint16_t kBurst = 64;            // mbufs per rte_eth_rx_burst
constexpr uint16_t kRxDescriptors = 1024;  // per queue, before the driver's adjustment
constexpr unsigned kPoolCache = 256;
constexpr uint64_t kSpinPolls = 200;  // empty poll rounds before the idle sleep starts
constexpr uint16_t kJumboMtu = 9000;  // mirror ports may carry jumbo frames

// The EAL lives as long as the process, once: DPDK cannot initialise it a
// second time, not even after rte_eal_cleanup.
enum class EalState : uint8_t { kNone, kReady, kCleaned };
EalState g_eal = EalState::kNone;
std::string g_eal_args;                // what it was initialised with
std::vector<std::string> g_eal_words;  // argv storage: EAL keeps pointers into it
std::vector<char*> g_eal_argv;

bool eal_init(const std::string& args, std::string& error) {
  if (g_eal == EalState::kReady) {
    if (args != g_eal_args) {
      error = "the DPDK EAL is already initialised in this process with \"" + g_eal_args +
              "\"; it cannot be initialised again with \"" + args + "\"";
      return false;
    }
    return true;
  }
  if (g_eal == EalState::kCleaned) {
    error = "the DPDK EAL was already cleaned up in this process and cannot be initialised again";
    return false;
  }
  std::vector<std::string> words;
  if (!split_eal_args(args, words, error)) {
    error = "DPDK EAL arguments \"" + args + "\": " + error;
    return false;
  }
  g_eal_words.clear();
  g_eal_words.emplace_back("callvault");
  for (auto& w : words) g_eal_words.push_back(std::move(w));
  g_eal_argv.clear();
  for (auto& w : g_eal_words) g_eal_argv.push_back(w.data());
  g_eal_argv.push_back(nullptr);
  // EAL's start-up chatter (lcores, IOVA mode, ...) is INFO; callvault's own
  // log says what matters. --log-level in the EAL arguments overrides this.
  rte_log_set_global_level(RTE_LOG_NOTICE);
  const int rc = rte_eal_init(static_cast<int>(g_eal_words.size()), g_eal_argv.data());
  if (rc < 0) {
    const int err = rte_errno;
    error = "DPDK EAL initialisation with \"" + args + "\" failed: " + rte_strerror(err);
    if (err == ENOMEM || err == EACCES || err == ENOTSUP)
      error +=
          " (without hugepages add --no-huge; without a NIC bound to a DPDK driver add --no-pci; "
          "--in-memory avoids files in /var/run/dpdk)";
    else if (err == EALREADY)
      error += " (another DPDK primary process runs with the same --file-prefix; use --in-memory)";
    return false;
  }
  g_eal = EalState::kReady;
  g_eal_args = args;
  return true;
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string port_list() {
  std::string out;
  uint16_t id = 0;
  RTE_ETH_FOREACH_DEV(id) {
    char name[RTE_ETH_NAME_MAX_LEN] = {0};
    rte_eth_dev_get_name_by_port(id, name);
    out += (out.empty() ? "" : ", ") + std::to_string(id) + " (" + name + ")";
  }
  return out.empty() ? "none" : out;
}

struct BpfFilter {
  bpf_program prog{};
  bool compiled = false;
  BpfFilter() = default;
  BpfFilter(const BpfFilter&) = delete;
  BpfFilter& operator=(const BpfFilter&) = delete;
  ~BpfFilter() {
    if (compiled) pcap_freecode(&prog);
  }
};

}  // namespace

struct DpdkSource::Impl {
  bool port_started = false;
  bool port_configured = false;
  uint16_t port = 0;
  rte_mempool* pool = nullptr;
  int ts_offset = -1;  // the rx timestamp dynfield, when the driver fills it
  uint64_t ts_flag = 0;
  int snaplen = 65535;
  int idle_sleep_us = 1000;
  std::vector<std::byte> chain;       // multi-segment frames are copied here (snaplen bytes)
  std::unique_ptr<BpfFilter> filter;  // null: everything
  std::unique_ptr<pcap_t, void (*)(pcap_t*)> dead{nullptr, pcap_close};  // compiles filters

  ~Impl() {
    if (port_started) rte_eth_dev_stop(port);
    if (port_configured) rte_eth_dev_close(port);
    if (pool) rte_mempool_free(pool);
  }

  bool compile(const std::string& text, std::unique_ptr<BpfFilter>& out, std::string& error) {
    out.reset();
    if (text.empty()) return true;
    auto f = std::make_unique<BpfFilter>();
    if (pcap_compile(dead.get(), &f->prog, text.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
      error = "capture filter \"" + text + "\" is not a valid BPF expression: " + pcap_geterr(dead.get());
      return false;
    }
    f->compiled = true;
    out = std::move(f);
    return true;
  }
};

DpdkSource::~DpdkSource() {
  // The port and the pool go before the EAL that owns their memory.
  impl_.reset();
  if (g_eal == EalState::kReady) {
    rte_eal_cleanup();
    g_eal = EalState::kCleaned;
  }
}

std::unique_ptr<DpdkSource> DpdkSource::open(const DpdkCaptureOptions& options, std::string& error) {
  if (!eal_init(options.eal_args, error)) return nullptr;
  std::unique_ptr<DpdkSource> s(new DpdkSource());
  s->impl_ = std::make_unique<Impl>();
  Impl& m = *s->impl_;
  m.snaplen = options.snaplen;
  m.idle_sleep_us = options.idle_sleep_us;

  // Which port.
  uint16_t port = 0;
  const unsigned avail = rte_eth_dev_count_avail();
  if (options.port.empty()) {
    if (avail != 1) {
      error = avail == 0
                  ? std::string(
                        "no DPDK port: bind a NIC to a DPDK driver, or add a virtual device to the EAL "
                        "arguments (--vdev net_pcap0,rx_pcap=FILE)")
                  : "DPDK has " + std::to_string(avail) + " ports (" + port_list() +
                        "); name one with --interface (a port id or a device name)";
      return nullptr;
    }
    RTE_ETH_FOREACH_DEV(port) break;
  } else if (all_digits(options.port) && options.port.size() <= 5) {
    const unsigned long id = std::stoul(options.port);
    if (id >= RTE_MAX_ETHPORTS || !rte_eth_dev_is_valid_port(static_cast<uint16_t>(id))) {
      error = "DPDK port " + options.port + " does not exist (ports: " + port_list() + ")";
      return nullptr;
    }
    port = static_cast<uint16_t>(id);
  } else if (rte_eth_dev_get_port_by_name(options.port.c_str(), &port) != 0) {
    error = "DPDK port \"" + options.port + "\" does not exist (ports: " + port_list() + ")";
    return nullptr;
  }
  char name[RTE_ETH_NAME_MAX_LEN] = {0};
  rte_eth_dev_get_name_by_port(port, name);
  s->port_name_ = name;
  s->port_id_ = port;
  m.port = port;
  const std::string where = "DPDK port " + s->port_name_ + " (" + std::to_string(port) + ")";

  rte_eth_dev_info info{};
  if (int rc = rte_eth_dev_info_get(port, &info); rc != 0) {
    error = where + ": no device information: " + rte_strerror(-rc);
    return nullptr;
  }
  s->driver_ = info.driver_name ? info.driver_name : "";

  // Queues and RSS: one thread polls every queue; several queues give the
  // NIC several rings to absorb bursts in, spread by a hash of the addresses
  // and ports (all fragments of a datagram hash alike: RTE_ETH_RSS_IP covers
  // FRAG_IPV4/IPV6 by addresses only).
  const int max_queues = std::max<int>(1, info.max_rx_queues);
  int queues = std::clamp(options.queues, 1, max_queues);
  rte_eth_conf conf{};
  const uint64_t rss = (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP | RTE_ETH_RSS_TCP) & info.flow_type_rss_offloads;
  if (queues > 1 && rss == 0) queues = 1;  // no RSS: more queues would stay empty
  if (queues > 1) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_key = nullptr;  // the driver's default key
    conf.rx_adv_conf.rss_conf.rss_hf = rss;
  }
  // Frames longer than one mbuf arrive as chains where the device can do it.
  if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER) conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;
  s->queues_ = queues;

  // R4: no transmit queue at all. Some drivers refuse a port without one;
  // then it gets a single queue that is never used (nothing in callvault
  // calls rte_eth_tx_burst) so that the port can start.
  int rc = rte_eth_dev_configure(port, static_cast<uint16_t>(queues), 0, &conf);
  uint16_t tx_queues = 0;
  if (rc != 0) {
    rc = rte_eth_dev_configure(port, static_cast<uint16_t>(queues), 1, &conf);
    tx_queues = 1;
  }
  if (rc != 0) {
    error =
        where + ": cannot configure " + std::to_string(queues) + " receive queue(s): " + rte_strerror(-rc);
    return nullptr;
  }
  m.port_configured = true;
  if (info.max_mtu >= kJumboMtu && (conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_SCATTER))
    rte_eth_dev_set_mtu(port, kJumboMtu);  // best effort: a refusal keeps the default MTU

  uint16_t rx_desc = kRxDescriptors;
  uint16_t tx_desc = 64;
  if (rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &rx_desc, tx_queues ? &tx_desc : nullptr); rc != 0) {
    error = where + ": descriptor limits: " + rte_strerror(-rc);
    return nullptr;
  }
  const int socket = rte_eth_dev_socket_id(port);
  // Every ring full, one burst per queue being processed, and the per-lcore
  // caches: the pool never runs dry while callvault keeps up.
  unsigned mbufs = static_cast<unsigned>(queues) * (rx_desc + 2u * kBurst) + 2 * kPoolCache;
  unsigned pow2 = 1;
  while (pow2 - 1 < mbufs) pow2 <<= 1;  // mempools are most efficient at 2^n - 1
  mbufs = pow2 - 1;
  const std::string pool_name = "cv_rx_" + std::to_string(port);
  m.pool = rte_pktmbuf_pool_create(pool_name.c_str(), mbufs, kPoolCache, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                   socket < 0 ? static_cast<int>(SOCKET_ID_ANY) : socket);
  if (!m.pool) {
    error = where + ": cannot allocate " + std::to_string(mbufs) + " mbufs: " + rte_strerror(rte_errno) +
            " (with --no-huge the EAL has only -m MiB of memory, 64 by default)";
    return nullptr;
  }
  rte_eth_rxconf rxconf = info.default_rxconf;
  rxconf.offloads = conf.rxmode.offloads;
  for (int q = 0; q < queues; ++q) {
    if (rc = rte_eth_rx_queue_setup(port, static_cast<uint16_t>(q), rx_desc, socket, &rxconf, m.pool);
        rc != 0) {
      error = where + ": cannot set up receive queue " + std::to_string(q) + ": " + rte_strerror(-rc);
      return nullptr;
    }
  }
  for (uint16_t q = 0; q < tx_queues; ++q) {
    if (rc = rte_eth_tx_queue_setup(port, q, tx_desc, socket, nullptr); rc != 0) {
      error = where + ": cannot set up the (unused) transmit queue: " + rte_strerror(-rc);
      return nullptr;
    }
  }

  // Timestamps. The rx timestamp dynfield's unit and epoch are the driver's
  // own (rte_mbuf_dyn.h: "not explicitly defined"), so it is believed only
  // for net_pcap, which stores the capture's own time (struct timeval from
  // libpcap, opened with microsecond precision) as microseconds since the
  // UNIX epoch. Every other driver: the wall clock, read once per burst.
  if (s->driver_ == "net_pcap" && rte_mbuf_dyn_rx_timestamp_register(&m.ts_offset, &m.ts_flag) == 0) {
    s->clock_ = DpdkClock::kDevice;
  } else {
    m.ts_offset = -1;
    m.ts_flag = 0;
  }

  m.dead.reset(pcap_open_dead(DLT_EN10MB, options.snaplen));
  if (!m.dead) {
    error = "libpcap cannot compile filters";
    return nullptr;
  }
  if (!m.compile(options.filter, m.filter, error)) return nullptr;
  m.chain.resize(static_cast<size_t>(options.snaplen));

  if (rc = rte_eth_dev_start(port); rc != 0) {
    error = where + ": cannot start: " + rte_strerror(-rc);
    return nullptr;
  }
  m.port_started = true;
  // A mirror port carries traffic for other hosts. Virtual devices may not
  // know promiscuity (-ENOTSUP): they see everything anyway.
  rte_eth_promiscuous_enable(port);
  rte_eth_stats_reset(port);  // counters since this capture started, like libpcap's
  return s;
}

int DpdkSource::dispatch_raw(FrameFn fn, void* ctx) {
  Impl& m = *impl_;
  rte_mbuf* bufs[kBurst];
  int total = 0;
  const auto snaplen = static_cast<uint32_t>(m.snaplen);
  for (int q = 0; q < queues_; ++q) {
    const uint16_t n = rte_eth_rx_burst(m.port, static_cast<uint16_t>(q), bufs, kBurst);
    if (n == 0) continue;
    total += n;
    // One clock read per burst (vDSO, no system call); frames without a
    // device timestamp get this one.
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    const Timestamp burst_ts = Timestamp::from_sec_nsec(now.tv_sec, now.tv_nsec);
    for (uint16_t i = 0; i < n; ++i) {
      rte_mbuf* mb = bufs[i];
      if (i + 1 < n) rte_prefetch0(rte_pktmbuf_mtod(bufs[i + 1], void*));
      const uint32_t len = std::min(rte_pktmbuf_pkt_len(mb), snaplen);
      const void* data;
      if (mb->nb_segs == 1 || len <= rte_pktmbuf_data_len(mb)) {
        data = rte_pktmbuf_mtod(mb, const void*);  // the view: no copy
      } else {
        // rte_pktmbuf_read copies the chain into the buffer of snaplen bytes.
        data = rte_pktmbuf_read(mb, 0, len, m.chain.data());
        if (!data) continue;  // a chain shorter than its pkt_len: not a frame
        ++chained_;
      }
      if (m.filter) {
        pcap_pkthdr hdr{};
        hdr.caplen = len;
        hdr.len = rte_pktmbuf_pkt_len(mb);
        if (pcap_offline_filter(&m.filter->prog, &hdr, static_cast<const u_char*>(data)) == 0) continue;
      }
      CapturedFrame& f = frame_;
      f.number = ++count_;
      if (m.ts_flag != 0 && (mb->ol_flags & m.ts_flag)) {
        // net_pcap computes tv_sec * 10^6 + tv_usec from libpcap, which
        // hands a file's unsigned 32-bit seconds over sign-extended (2038-2106
        // become 1902-1970): undone as PcapFileSource does for replay.
        auto us = static_cast<int64_t>(*RTE_MBUF_DYNFIELD(mb, m.ts_offset, rte_mbuf_timestamp_t*));
        if (us < 0 && us >= -0x80000000LL * 1'000'000) us += 0x100000000LL * 1'000'000;
        f.ts = Timestamp{us * 1000};
      } else {
        f.ts = burst_ts;
      }
      f.wire_length = rte_pktmbuf_pkt_len(mb);
      f.data = Bytes(static_cast<const std::byte*>(data), len);
      last_ts_ = f.ts;
      fn(ctx, f);
    }
    rte_pktmbuf_free_bulk(bufs, n);
  }
  if (total > 0) {
    idle_polls_ = 0;
  } else if (++idle_polls_ > kSpinPolls) {
    // Idle for a while: sleep instead of spinning (a mirror port at night, a
    // virtual device at the end of its file). A busy port never gets here;
    // after a quiet spell the rings hold what arrives during one pause:
    // 1024 descriptors per queue in 1 ms is a million frames per second,
    // far beyond the mirror traffic of a town hall's calls.
    timespec pause{0, static_cast<long>(m.idle_sleep_us) * 1000};
    nanosleep(&pause, nullptr);
  }
  return total;
}

bool DpdkSource::set_filter(const std::string& filter, std::string& error) {
  Impl& m = *impl_;
  std::unique_ptr<BpfFilter> fresh;
  if (!m.compile(filter, fresh, error)) return false;
  m.filter = std::move(fresh);
  return true;
}

bool DpdkSource::stats(LiveCaptureStats& out, std::string& error) {
  rte_eth_stats st{};
  if (int rc = rte_eth_stats_get(impl_->port, &st); rc != 0) {
    error = "statistics of DPDK port " + port_name_ + " unavailable: " + rte_strerror(-rc);
    return false;
  }
  out.received = st.ipackets;
  out.kernel_drops = st.imissed + st.rx_nombuf;
  out.interface_drops = st.ierrors;
  return true;
}

#endif  // CALLVAULT_HAVE_DPDK

}  // namespace cv
