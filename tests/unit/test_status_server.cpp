// The status endpoint: Prometheus exposition, the JSON document, the health
// rules, the HTTP handling (pure and over a real loopback socket), and the
// client that `callvault status` uses.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "app/status_command.h"
#include "app/status_metrics.h"
#include "app/status_server.h"
#include "storage/db/index_writer.h"

namespace cv {
namespace {

// ---------------------------------------------------------------------------
// A strict reader of the text exposition format 0.0.4: every line is a HELP,
// a TYPE or a sample; a sample's metric has had its TYPE; names and labels
// follow the grammar; values are numbers. Fails the test on anything else.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

std::vector<Sample> parse_exposition(const std::string& text) {
  std::vector<Sample> samples;
  std::map<std::string, std::string> types;
  std::set<std::string> helped;
  static const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*))");
  static const std::regex type(
      R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
  static const std::regex sample(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ([-+0-9.eE]+|NaN|\+Inf|-Inf))");
  static const std::regex label(R"re(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$))re");
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n') << "the exposition must end with a newline";
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    std::smatch m;
    if (std::regex_match(line, m, help)) {
      EXPECT_TRUE(helped.insert(m[1]).second) << "two HELP lines for " << m[1];
      continue;
    }
    if (std::regex_match(line, m, type)) {
      EXPECT_TRUE(types.emplace(m[1], m[2]).second) << "two TYPE lines for " << m[1];
      continue;
    }
    if (!std::regex_match(line, m, sample)) {
      ADD_FAILURE() << "not a valid exposition line: '" << line << "'";
      continue;
    }
    Sample s;
    s.name = m[1];
    EXPECT_TRUE(types.count(s.name)) << s.name << " sampled before its TYPE";
    std::string labels = m[3];
    while (!labels.empty()) {
      std::smatch lm;
      if (!std::regex_search(labels, lm, label, std::regex_constants::match_continuous)) {
        ADD_FAILURE() << "bad labels in '" << line << "'";
        break;
      }
      EXPECT_TRUE(s.labels.emplace(lm[1], lm[2]).second) << "label twice in " << line;
      labels = lm.suffix();
    }
    s.value = std::stod(m[4]);
    samples.push_back(s);
  }
  return samples;
}

double value_of(const std::vector<Sample>& samples, const std::string& name,
                const std::map<std::string, std::string>& labels = {}) {
  for (const auto& s : samples)
    if (s.name == name && s.labels == labels) return s.value;
  ADD_FAILURE() << "no sample " << name;
  return -1;
}

StatusSnapshot example() {
  StatusSnapshot s;
  s.version = "1.2.3";
  s.mode = "live";
  s.source = "eth1";
  s.sensor = "town \"hall\"\\1\n";
  s.start_time_ns = 1'700'000'000 * kNsPerSec;
  s.uptime_s = 12.5;
  s.packets = 1000;
  s.bytes = 123456;
  s.sip_messages = 7;
  s.rtp_packets = 900;
  s.rtp_unmatched = 3;
  s.active_calls = 2;
  s.calls_started = 5;
  s.calls_finished = 3;
  s.kernel_drops = 11;
  s.interface_drops = 4;
  s.anomalies[static_cast<size_t>(Anomaly::kTimestampJump)] = 6;
  s.index_enabled = true;
  s.database_connected = true;
  s.index_queue_depth = 9;
  s.journal_segments = 2;
  s.journal_records = 40;
  s.journal_bytes = 8000;
  s.disks.push_back({"/var/lib/callvault/audio", true, 5ull << 30, 100ull << 30});
  s.min_free_bytes = 1ull << 30;
  return s;
}

TEST(StatusMetrics, PrometheusExpositionIsStrictlyValid) {
  const auto samples = parse_exposition(format_prometheus(example()));
  EXPECT_EQ(value_of(samples, "callvault_up"), 1);
  EXPECT_EQ(value_of(samples, "callvault_packets_total"), 1000);
  EXPECT_EQ(value_of(samples, "callvault_drops_total", {{"source", "kernel"}}), 11);
  EXPECT_EQ(value_of(samples, "callvault_drops_total", {{"source", "interface"}}), 4);
  EXPECT_EQ(value_of(samples, "callvault_active_calls"), 2);
  EXPECT_EQ(value_of(samples, "callvault_unmatched_rtp_packets_total"), 3);
  EXPECT_EQ(value_of(samples, "callvault_index_queue_depth"), 9);
  EXPECT_EQ(value_of(samples, "callvault_journal_records"), 40);
  EXPECT_EQ(value_of(samples, "callvault_journal_bytes"), 8000);
  EXPECT_EQ(value_of(samples, "callvault_journal_segments"), 2);
  EXPECT_EQ(value_of(samples, "callvault_disk_free_bytes", {{"path", "/var/lib/callvault/audio"}}),
            static_cast<double>(5ull << 30));
  EXPECT_EQ(value_of(samples, "callvault_start_time_seconds"), 1'700'000'000);
  EXPECT_EQ(value_of(samples, "callvault_anomalies_total",
                     {{"kind", std::string(anomaly_name(Anomaly::kTimestampJump))}}),
            6);
  // Label values are escaped: \" \\ \n.
  EXPECT_EQ(value_of(samples, "callvault_info",
                     {{"version", "1.2.3"},
                      {"mode", "live"},
                      {"source", "eth1"},
                      {"sensor", "town \\\"hall\\\"\\\\1\\n"}}),
            1);
}

TEST(StatusMetrics, JsonCarriesTheSame) {
  StatusSnapshot s = example();
  evaluate_health(s);
  const auto j = status_json(s);
  EXPECT_EQ(j["packets"], 1000);
  EXPECT_EQ(j["active_calls"], 2);
  EXPECT_EQ(j["unmatched_rtp_packets"], 3);
  EXPECT_EQ(j["drops"]["kernel"], 11);
  EXPECT_EQ(j["index"]["journal_records"], 40);
  EXPECT_EQ(j["disks"][0]["free_bytes"], 5ull << 30);
  EXPECT_EQ(j["anomalies"][std::string(anomaly_name(Anomaly::kTimestampJump))], 6);
  EXPECT_EQ(j["healthy"], true);
  EXPECT_EQ(j["started"], "2023-11-14T22:13:20.000Z");
  const std::string summary = format_status_summary("127.0.0.1:9477", j);
  EXPECT_NE(summary.find("healthy"), std::string::npos) << summary;
  EXPECT_NE(summary.find("2 active, 5 started, 3 finished"), std::string::npos) << summary;
  EXPECT_NE(summary.find("11 kernel, 4 interface"), std::string::npos) << summary;
  EXPECT_NE(summary.find("40 records in 2 journal segments"), std::string::npos) << summary;
  EXPECT_NE(summary.find("5.0 GiB free of 100.0 GiB"), std::string::npos) << summary;
}

TEST(StatusMetrics, HealthRules) {
  StatusSnapshot s = example();
  evaluate_health(s);
  EXPECT_TRUE(s.problems.empty());
  s.drops_in_window = 3;
  evaluate_health(s);
  ASSERT_EQ(s.problems.size(), 1u);
  EXPECT_NE(s.problems[0].find("dropped"), std::string::npos);
  s = example();
  s.database_connected = false;  // with records waiting
  evaluate_health(s);
  ASSERT_EQ(s.problems.size(), 1u);
  EXPECT_NE(s.problems[0].find("40 records"), std::string::npos);
  s.journal_records = s.journal_segments = 0;  // unreachable but nothing waits: fine
  evaluate_health(s);
  EXPECT_TRUE(s.problems.empty());
  s = example();
  s.disks[0].free_bytes = 10ull << 20;
  evaluate_health(s);
  ASSERT_EQ(s.problems.size(), 1u);
  EXPECT_NE(s.problems[0].find("min_free_mb"), std::string::npos);
  s = example();
  s.publish_age_s = kStallSec + 1;
  evaluate_health(s);
  ASSERT_EQ(s.problems.size(), 1u);
  s.mode = "replay";  // a replay may wait on a slow pipe
  evaluate_health(s);
  EXPECT_TRUE(s.problems.empty());
  s.index_records_lost = 1;
  evaluate_health(s);
  EXPECT_EQ(s.problems.size(), 1u);
}

TEST(StatusMetrics, SnapshotReadsTheAtomicsAndTheDisk) {
  RecorderMetrics m;
  m.mode = "replay";
  m.disk_paths = {"/tmp/callvault-does-not-exist/audio"};  // its nearest existing parent counts
  m.packets = 77;
  m.active_calls = 1;
  IndexWriterStats index;
  index.journal_records = 12;
  index.queue_depth = 3;
  m.index = &index;
  const StatusSnapshot s = take_snapshot(m);
  EXPECT_EQ(s.packets, 77u);
  EXPECT_EQ(s.active_calls, 1u);
  EXPECT_TRUE(s.index_enabled);
  EXPECT_EQ(s.journal_records, 12u);
  EXPECT_EQ(s.index_queue_depth, 3u);
  ASSERT_EQ(s.disks.size(), 1u);
  EXPECT_TRUE(s.disks[0].ok);
  EXPECT_GT(s.disks[0].size_bytes, 0u);
}

TEST(StatusServer, ListenAddresses) {
  ListenAddress a;
  std::string e;
  ASSERT_TRUE(parse_listen_address("127.0.0.1:9477", a, e)) << e;
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 9477);
  ASSERT_TRUE(parse_listen_address("[::1]:80", a, e)) << e;
  EXPECT_EQ(a.to_string(), "[::1]:80");
  ASSERT_TRUE(parse_listen_address("localhost:1", a, e)) << e;
  EXPECT_EQ(a.host, "127.0.0.1");
  ASSERT_TRUE(parse_listen_address("127.1.2.3:0", a, e)) << e;
  for (const char* bad :
       {"", "127.0.0.1", ":9477", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "::1:9477", "[::1]",
        "[::1]9477", "0.0.0.0:9477", "10.0.0.1:9477", "[::]:9477", "host:9477"}) {
    EXPECT_FALSE(parse_listen_address(bad, a, e)) << bad;
  }
  EXPECT_FALSE(parse_listen_address("0.0.0.0:9477", a, e));
  EXPECT_NE(e.find("loopback"), std::string::npos) << e;
}

StatusSnapshot fixed() { return example(); }

TEST(StatusServer, RespondsToRequestHeads) {
  auto r = respond_to("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", fixed);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(r.body.find("callvault_packets_total 1000"), std::string::npos);
  r = respond_to("GET /status?x=1 HTTP/1.0\r\n\r\n", fixed);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(nlohmann::json::parse(r.body)["packets"], 1000);
  r = respond_to("HEAD /metrics HTTP/1.1\r\n\r\n", fixed);
  EXPECT_EQ(r.status, 200);
  const std::string head = r.serialize();
  EXPECT_EQ(head.find("callvault_"), std::string::npos) << "HEAD has no body";
  EXPECT_NE(head.find("Content-Length: " + std::to_string(r.body.size())), std::string::npos);
  EXPECT_EQ(respond_to("GET /nope HTTP/1.1\r\n\r\n", fixed).status, 404);
  r = respond_to("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", fixed);
  EXPECT_EQ(r.status, 405);
  EXPECT_NE(r.serialize().find("Allow: GET, HEAD\r\n"), std::string::npos);
  EXPECT_EQ(respond_to("DELETE /status HTTP/1.1\r\n\r\n", fixed).status, 405);
  for (const char* bad : {"GET\r\n\r\n", "GET /metrics\r\n\r\n", "GET  /metrics HTTP/1.1\r\n\r\n",
                          "get /metrics HTTP/1.1\r\n\r\n", "GET metrics HTTP/1.1\r\n\r\n",
                          "GET /metrics FTP/1.0\r\n\r\n", "\x16\x03\x01\x02\x00\r\n\r\n", "\r\n\r\n"})
    EXPECT_EQ(respond_to(bad, fixed).status, 400) << bad;
  EXPECT_EQ(respond_to("GET /metrics HTTP/2.0\r\n\r\n", fixed).status, 505);
}

// ---------------------------------------------------------------------------
// Over a real socket.

int connect_to(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{20, 0};  // no test waits forever
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void send_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

// Everything until the server closes (`closed`) or the receive timeout.
std::string read_all(int fd, bool* closed = nullptr) {
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    // Closed: an orderly end, or a reset (closed with our request unread).
    if (closed) *closed = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

// The server has neither answered nor closed the connection (yet).
bool still_open(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  return ::poll(&p, 1, 0) == 0;
}

std::string exchange(uint16_t port, const std::string& request) {
  const int fd = connect_to(port);
  EXPECT_GE(fd, 0);
  if (fd < 0) return {};
  send_all(fd, request);
  std::string out = read_all(fd);
  ::close(fd);
  return out;
}

int status_of(const std::string& response) {
  return response.rfind("HTTP/1.1 ", 0) == 0 ? std::atoi(response.c_str() + 9) : -1;
}

class LiveServer : public ::testing::Test {
 protected:
  void SetUp() override {
    metrics_.mode = "replay";
    metrics_.source = "test";
    metrics_.packets = 42;
    metrics_.disk_paths = {"/tmp"};
    StatusServerOptions options;
    options.max_request_bytes = 1024;
    options.timeout = std::chrono::milliseconds(500);
    options.max_connections = 4;
    options.min_free_bytes = 0;
    std::string error;
    server_ = StatusServer::start("127.0.0.1:0", metrics_, options, error);
    ASSERT_TRUE(server_) << error;
    ASSERT_NE(server_->port(), 0);
  }
  RecorderMetrics metrics_;
  std::unique_ptr<StatusServer> server_;
};

TEST_F(LiveServer, ServesMetricsAndStatus) {
  std::string r = exchange(server_->port(), "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
  EXPECT_EQ(status_of(r), 200) << r;
  EXPECT_NE(r.find("Connection: close"), std::string::npos);
  const std::string body = r.substr(r.find("\r\n\r\n") + 4);
  EXPECT_EQ(value_of(parse_exposition(body), "callvault_packets_total"), 42);
  metrics_.packets = 43;  // what the packet thread publishes is what the next scrape sees
  int status = 0;
  std::string json, error;
  ASSERT_TRUE(http_get(server_->address(), "/status", std::chrono::seconds(5), status, json, error)) << error;
  EXPECT_EQ(status, 200);
  EXPECT_EQ(nlohmann::json::parse(json)["packets"], 43);
}

TEST_F(LiveServer, BadRequestsGetTheirStatus) {
  EXPECT_EQ(status_of(exchange(server_->port(), "BLAH\r\n\r\n")), 400);
  EXPECT_EQ(status_of(exchange(server_->port(), "GET /favicon.ico HTTP/1.1\r\n\r\n")), 404);
  EXPECT_EQ(status_of(exchange(server_->port(), "PUT /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")),
            405);
  // Bare LF line ends (typed by hand) are understood.
  EXPECT_EQ(status_of(exchange(server_->port(), "GET /status HTTP/1.0\n\n")), 200);
}

TEST_F(LiveServer, OversizedRequestIsRefusedWhole) {
  // 64 KiB of headers, never ending: answered 431 after 1 KiB, and the
  // answer arrives intact although the client keeps sending.
  std::string request = "GET /metrics HTTP/1.1\r\n";
  while (request.size() < 64 * 1024) request += "X-Padding: " + std::string(100, 'a') + "\r\n";
  const std::string r = exchange(server_->port(), request);
  EXPECT_EQ(status_of(r), 431) << r.substr(0, 200);
}

TEST_F(LiveServer, SlowClientsBlockNobodyAndAreClosed) {
  // A server whose per-connection deadline outlasts anything here: slow
  // clients take every connection but one, each sending half a request; a
  // fast client is answered while they are all still connected, so it did
  // not wait for them (no clock involved).
  StatusServerOptions options;
  options.max_request_bytes = 1024;
  options.timeout = std::chrono::seconds(120);
  options.max_connections = 4;
  options.min_free_bytes = 0;
  std::string error;
  auto patient = StatusServer::start("127.0.0.1:0", metrics_, options, error);
  ASSERT_TRUE(patient) << error;
  std::vector<int> slow;
  for (int i = 0; i < 3; ++i) {
    slow.push_back(connect_to(patient->port()));
    ASSERT_GE(slow.back(), 0);
    send_all(slow.back(), "GET /metr");
  }
  const std::string r = exchange(patient->port(), "GET /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(status_of(r), 200);
  for (int fd : slow) {
    EXPECT_TRUE(still_open(fd)) << "a slow client was closed before the fast one was answered";
    ::close(fd);
  }
  // The fixture's server (deadline 0.5 s) closes a slow client by itself,
  // unanswered, rather than keeping it forever.
  const int fd = connect_to(server_->port());
  ASSERT_GE(fd, 0);
  send_all(fd, "GET /metr");
  bool closed = false;
  EXPECT_EQ(read_all(fd, &closed), "");
  EXPECT_TRUE(closed) << "the slow client was not closed at its deadline";
  ::close(fd);
}

TEST_F(LiveServer, ConnectionsBeyondTheLimitAreClosed) {
  std::vector<int> held;
  for (int i = 0; i < 4; ++i) held.push_back(connect_to(server_->port()));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // accepted
  const std::string r = exchange(server_->port(), "GET /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(r, "") << "the fifth connection is closed unanswered";
  for (int fd : held) ::close(fd);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(status_of(exchange(server_->port(), "GET /metrics HTTP/1.1\r\n\r\n")), 200);
}

TEST_F(LiveServer, AddressInUseIsNamed) {
  std::string error;
  auto second = StatusServer::start(server_->address(), metrics_, {}, error);
  EXPECT_FALSE(second);
  EXPECT_NE(error.find(server_->address()), std::string::npos) << error;
  EXPECT_NE(error.find("in use"), std::string::npos) << error;
}

TEST_F(LiveServer, StopsPromptlyWithClientsConnected) {
  const int fd = connect_to(server_->port());
  send_all(fd, "GET /");
  const uint16_t port = server_->port();
  server_.reset();  // returns (joins its thread) although a client is mid-request
  bool closed = false;
  EXPECT_EQ(read_all(fd, &closed), "");
  EXPECT_TRUE(closed);
  ::close(fd);
  EXPECT_LT(connect_to(port), 0) << "nothing listens after stop";
  int status = 0;
  std::string body, error;
  EXPECT_FALSE(
      http_get("127.0.0.1:" + std::to_string(port), "/status", std::chrono::seconds(2), status, body, error));
  EXPECT_NE(error.find("refused"), std::string::npos) << error;
}

TEST(StatusClient, TimesOutOnASilentServer) {
  // A listener that never answers (backlog only): the client gives up in time.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int status = 0;
  std::string body, error;
  EXPECT_FALSE(http_get("127.0.0.1:" + std::to_string(ntohs(addr.sin_port)), "/status",
                        std::chrono::milliseconds(300), status, body, error));
  EXPECT_NE(error.find("no answer"), std::string::npos) << error;
  ::close(fd);
}

}  // namespace
}  // namespace cv
