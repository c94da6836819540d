// The status endpoint: a small HTTP/1.1 server (Boost.Asio) on its own thread,
// on loopback only, serving
//   GET /metrics  Prometheus text exposition format 0.0.4
//   GET /status   the same as JSON (what `callvault status` reads)
//
// It only reads: the RecorderMetrics atomics the packet thread publishes, the
// index writer's atomics, and statvfs of the data directories at scrape time.
// Nothing it does can make the packet thread wait: no lock is shared, and a
// slow or hostile client costs only this thread a socket until its deadline.
//
// Robustness: one request per connection (Connection: close), request head
// at most max_request_bytes (431 beyond), a deadline per connection for
// reading the request and writing the answer (closed when it passes), at most
// max_connections at once (more are closed at accept), 400 for a malformed
// request line, 404 for unknown paths, 405 for methods other than GET/HEAD.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "app/status_metrics.h"

namespace cv {

// host:port of a loopback listener: "127.0.0.1:9477", "[::1]:9477",
// "localhost:9477" (127.0.0.1). Port 0 picks a free port (tests).
struct ListenAddress {
  std::string host;  // numeric, without brackets
  uint16_t port = 0;
  [[nodiscard]] std::string to_string() const;  // brackets around IPv6
};

// False with `error` when `text` is not host:port, or the host is not a
// loopback address: the endpoint has no authentication, so it is never
// offered to the network (a reverse proxy or SSH tunnel can carry it).
bool parse_listen_address(std::string_view text, ListenAddress& out, std::string& error);

struct StatusServerOptions {
  size_t max_request_bytes = 8192;
  std::chrono::milliseconds timeout{5000};  // per connection: request read and answer written
  size_t max_connections = 16;
  uint64_t min_free_bytes = 1024ull << 20;                 // health: [status] min_free_mb
  std::chrono::milliseconds drop_sample_interval{10'000};  // for drops over the last kDropWindowSec
};

// One HTTP response, as built from a request head (for the server and tests).
struct HttpResponse {
  int status = 200;
  std::string content_type;
  std::string body;
  std::string allow;  // the Allow header of a 405
  bool head = false;  // HEAD: headers only
  [[nodiscard]] std::string serialize() const;
};

// The answer to one request head (request line and headers, without body).
// `snapshot` is called only for /metrics and /status.
HttpResponse respond_to(std::string_view head, const std::function<StatusSnapshot()>& snapshot);

class StatusServer {
 public:
  // Binds `listen` and starts the thread. nullptr and `error` (naming the
  // address and the reason, e.g. in use) when it cannot listen. `metrics`
  // must outlive the server.
  static std::unique_ptr<StatusServer> start(const std::string& listen, const RecorderMetrics& metrics,
                                             const StatusServerOptions& options, std::string& error);
  ~StatusServer();  // stop()
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  // Closes the listener and every connection, joins the thread. Idempotent.
  void stop();
  // The bound address (the real port when 0 was asked for).
  [[nodiscard]] std::string address() const;
  [[nodiscard]] uint16_t port() const;

  struct Impl;

 private:
  explicit StatusServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// For `capture` and `replay`: starts the endpoint on `listen` and logs where
// it serves; nullptr after logging why it cannot (the caller exits 2: the
// operator asked for an endpoint and would otherwise scrape nothing).
std::unique_ptr<StatusServer> serve_status(const std::string& listen, uint64_t min_free_mb,
                                           const RecorderMetrics& metrics);

// A GET of `path` from a status endpoint at `listen`, within `timeout`. True
// with the HTTP status and body; false with `error` (connection refused,
// timeout, not HTTP). Bodies above 4 MiB are refused.
bool http_get(const std::string& listen, const std::string& path, std::chrono::milliseconds timeout,
              int& status, std::string& body, std::string& error);

}  // namespace cv
