#include "app/status_server.h"

#include <fmt/format.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio.hpp>
#include <csignal>
#include <deque>
#include <thread>

#include "common/time.h"

namespace cv {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

const char* reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Error";
  }
}

HttpResponse error_response(int status, std::string_view detail) {
  HttpResponse r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = fmt::format("{} {}: {}\n", status, reason_phrase(status), detail);
  return r;
}

// The end of the request head: a blank line (CRLF CRLF, or bare LF LF from
// hand-typed requests). npos while incomplete.
size_t head_end(std::string_view data) {
  const size_t crlf = data.find("\r\n\r\n");
  const size_t lf = data.find("\n\n");
  if (crlf == std::string_view::npos) return lf == std::string_view::npos ? lf : lf + 2;
  if (lf == std::string_view::npos || crlf + 2 < lf) return crlf + 4;
  return lf + 2;
}

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string ListenAddress::to_string() const {
  return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                             : fmt::format("{}:{}", host, port);
}

bool parse_listen_address(std::string_view text, ListenAddress& out, std::string& error) {
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      error = fmt::format("\"{}\" is not [IPv6]:port", text);
      return false;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) {
      error = fmt::format("\"{}\" is not host:port (e.g. \"127.0.0.1:9477\" or \"[::1]:9477\")", text);
      return false;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned value = 0;
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      (value = static_cast<unsigned>(std::stoul(std::string(port)))) > 65535) {
    error = fmt::format("\"{}\": the port must be a number 0-65535", text);
    return false;
  }
  std::string h(host);
  if (h == "localhost") h = "127.0.0.1";
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(h, ec);
  if (ec) {
    error = fmt::format("\"{}\": \"{}\" is not an IP address (or localhost)", text, host);
    return false;
  }
  if (!address.is_loopback()) {
    error = fmt::format(
        "\"{}\" is not a loopback address: the status endpoint has no authentication and listens only on "
        "127.0.0.0/8 or [::1] (reach it from elsewhere through an SSH tunnel or an authenticating proxy)",
        text);
    return false;
  }
  out.host = address.to_string();
  out.port = static_cast<uint16_t>(value);
  return true;
}

std::string HttpResponse::serialize() const {
  std::string out = fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n"
      "Connection: close\r\n",
      status, reason_phrase(status), content_type, body.size());
  if (!allow.empty()) out += "Allow: " + allow + "\r\n";
  out += "\r\n";
  if (!head) out += body;
  return out;
}

HttpResponse respond_to(std::string_view head, const std::function<StatusSnapshot()>& snapshot) {
  std::string_view request_line = head.substr(0, head.find('\n'));
  if (!request_line.empty() && request_line.back() == '\r') request_line.remove_suffix(1);
  // METHOD SP request-target SP HTTP-version, nothing else (RFC 9112 3).
  const size_t sp1 = request_line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : request_line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || request_line.find(' ', sp2 + 1) != std::string_view::npos)
    return error_response(400, "the request line must be METHOD PATH HTTP/1.1");
  const std::string_view method = request_line.substr(0, sp1);
  const std::string_view target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = request_line.substr(sp2 + 1);
  if (method.empty() || method.size() > 16 ||
      !std::all_of(method.begin(), method.end(), [](char c) { return c >= 'A' && c <= 'Z'; }))
    return error_response(400, "bad method");
  if (target.empty() || target.front() != '/') return error_response(400, "the path must start with /");
  if (version.substr(0, 5) != "HTTP/") return error_response(400, "not an HTTP request");
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return error_response(505, "HTTP/1.0 and 1.1 only");
  const std::string_view path = target.substr(0, target.find('?'));
  const bool known = path == "/metrics" || path == "/status" || path == "/";
  if (!known) return error_response(404, "try /metrics (Prometheus) or /status (JSON)");
  if (method != "GET" && method != "HEAD") {
    HttpResponse r = error_response(405, "only GET and HEAD");
    r.allow = "GET, HEAD";
    return r;
  }
  HttpResponse r;
  r.head = method == "HEAD";
  if (path == "/metrics") {
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = format_prometheus(snapshot());
  } else if (path == "/status") {
    r.content_type = "application/json";
    r.body = status_json(snapshot()).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  } else {
    r.content_type = "text/plain; charset=utf-8";
    r.body = "callvault status endpoint: /metrics (Prometheus text format), /status (JSON)\n";
  }
  return r;
}

// ---------------------------------------------------------------------------

struct StatusServer::Impl {
  Impl(const RecorderMetrics& m, const StatusServerOptions& o) : metrics(m), options(o) {}

  // Everything below runs on the server's thread only (accept, sessions, the
  // drop sampler), so none of it needs a lock.
  StatusSnapshot snapshot() {
    StatusSnapshot s = take_snapshot(metrics);
    s.min_free_bytes = options.min_free_bytes;
    const uint64_t drops = s.kernel_drops + s.interface_drops;
    prune_drop_samples();
    s.drops_in_window = drops - std::min(drops, drop_samples.front().second);
    evaluate_health(s);
    return s;
  }
  // (time, drops) samples, one per drop_sample_interval, back to the last one
  // at or before the start of the window: the difference to that one is the
  // drops within the window (give or take one interval).
  void sample_drops() {
    drop_samples.emplace_back(steady_ns(), metrics.kernel_drops.load(std::memory_order_relaxed) +
                                               metrics.interface_drops.load(std::memory_order_relaxed));
    prune_drop_samples();
  }
  void prune_drop_samples() {
    const int64_t window_start = steady_ns() - static_cast<int64_t>(kDropWindowSec) * kNsPerSec;
    while (drop_samples.size() > 1 && drop_samples[1].first <= window_start) drop_samples.pop_front();
  }
  void sample_timer_tick() {
    sampler.expires_after(options.drop_sample_interval);
    sampler.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      sample_drops();
      sample_timer_tick();
    });
  }
  void accept();

  const RecorderMetrics& metrics;
  StatusServerOptions options;
  size_t connections = 0;
  uint64_t refused = 0;
  std::deque<std::pair<int64_t, uint64_t>> drop_samples;
  std::string address;
  uint16_t port = 0;
  // Destroyed before the members above: its destructor destroys the pending
  // handlers, and with them the sessions, which count themselves out.
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  asio::steady_timer sampler{io};
  asio::steady_timer accept_retry{io};
  std::thread thread;
  bool stopped = false;
};

namespace {

// One connection: read the head, answer, close. Owned by its pending
// handlers (shared_ptr); the deadline timer closes the socket when it passes,
// which ends every pending operation.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, StatusServer::Impl& server)
      : socket_(std::move(socket)), deadline_(socket_.get_executor()), server_(server) {
    ++server_.connections;
  }
  ~Session() { --server_.connections; }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start() {
    deadline_.expires_after(server_.options.timeout);
    deadline_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->close();
    });
    read();
  }

 private:
  void read() {
    socket_.async_read_some(
        asio::buffer(chunk_),
        [self = shared_from_this()](boost::system::error_code ec, size_t n) { self->on_read(ec, n); });
  }
  void on_read(boost::system::error_code ec, size_t n) {
    if (ec) return close();  // the client left, or the deadline closed the socket
    const size_t limit = server_.options.max_request_bytes;
    request_.append(chunk_.data(), n);
    const size_t end = head_end(request_);
    if (end != std::string::npos && end <= limit) {
      HttpResponse r =
          respond_to(std::string_view(request_).substr(0, end), [this] { return server_.snapshot(); });
      return answer(r);
    }
    if (request_.size() >= limit)
      return answer(error_response(431, fmt::format("the request head is limited to {} bytes", limit)));
    read();
  }
  void answer(const HttpResponse& r) {
    response_ = r.serialize();
    asio::async_write(socket_, asio::buffer(response_),
                      [self = shared_from_this()](boost::system::error_code ec, size_t) {
                        if (ec) return self->close();
                        // Closing with unread request bytes would reset the connection and
                        // could destroy the answer in flight: half-close, then read what the
                        // client still sends until it closes too (or the deadline passes).
                        boost::system::error_code ignored;
                        self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
                        self->drain();
                      });
  }
  void drain() {
    socket_.async_read_some(asio::buffer(chunk_),
                            [self = shared_from_this()](boost::system::error_code ec, size_t) {
                              if (ec) return self->close();
                              self->drain();
                            });
  }
  void close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
    deadline_.cancel();
  }

  tcp::socket socket_;
  asio::steady_timer deadline_;
  StatusServer::Impl& server_;
  std::array<char, 2048> chunk_{};
  std::string request_;
  std::string response_;
};

}  // namespace

void StatusServer::Impl::accept() {
  acceptor.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      // Out of descriptors or similar: try again shortly rather than spin.
      spdlog::debug("status endpoint: accept: {}", ec.message());
      accept_retry.expires_after(std::chrono::milliseconds(100));
      accept_retry.async_wait([this](boost::system::error_code e) {
        if (!e) accept();
      });
      return;
    }
    if (connections >= options.max_connections) {
      ++refused;
      boost::system::error_code ignored;
      socket.close(ignored);
    } else {
      std::make_shared<Session>(std::move(socket), *this)->start();
    }
    accept();
  });
}

StatusServer::StatusServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

StatusServer::~StatusServer() { stop(); }

std::unique_ptr<StatusServer> StatusServer::start(const std::string& listen, const RecorderMetrics& metrics,
                                                  const StatusServerOptions& options, std::string& error) {
  ListenAddress where;
  if (!parse_listen_address(listen, where, error)) return nullptr;
  auto impl = std::make_unique<Impl>(metrics, options);
  boost::system::error_code ec;
  const tcp::endpoint endpoint(asio::ip::make_address(where.host), where.port);
  auto fail = [&](const char* step) {
    error = fmt::format("status endpoint {}: cannot {}: {}", where.to_string(), step, ec.message());
    return nullptr;
  };
  if (impl->acceptor.open(endpoint.protocol(), ec); ec) return fail("open a socket");
  // A restarted recorder must not wait for the old connections' TIME_WAIT.
  if (impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec); ec) return fail("set SO_REUSEADDR");
  if (endpoint.address().is_v6())
    if (impl->acceptor.set_option(asio::ip::v6_only(true), ec); ec) return fail("set IPV6_V6ONLY");
  if (impl->acceptor.bind(endpoint, ec); ec) {
    if (ec == asio::error::address_in_use)
      error = fmt::format(
          "status endpoint {}: the address is in use (another callvault, or another program, listens "
          "there; choose another [status] listen)",
          where.to_string());
    else
      fail("bind");
    return nullptr;
  }
  if (impl->acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) return fail("listen");
  const tcp::endpoint bound = impl->acceptor.local_endpoint(ec);
  impl->port = bound.port();
  impl->address = ListenAddress{where.host, impl->port}.to_string();
  impl->sample_drops();
  impl->accept();
  impl->sample_timer_tick();
  // Signals (SIGTERM, SIGHUP) belong to the capture loop, whose poll they
  // must interrupt: this thread blocks them all.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  Impl* p = impl.get();
  impl->thread = std::thread([p] {
    for (;;) {
      try {
        p->io.run();
        return;  // stopped
      } catch (const std::exception& e) {
        // A handler that threw (out of memory) loses its connection, not the server.
        spdlog::warn("status endpoint: {}", e.what());
      }
    }
  });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return std::unique_ptr<StatusServer>(new StatusServer(std::move(impl)));
}

void StatusServer::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
}

std::string StatusServer::address() const { return impl_->address; }
uint16_t StatusServer::port() const { return impl_->port; }

std::unique_ptr<StatusServer> serve_status(const std::string& listen, uint64_t min_free_mb,
                                           const RecorderMetrics& metrics) {
  StatusServerOptions options;
  options.min_free_bytes = min_free_mb << 20;
  std::string error;
  auto server = StatusServer::start(listen, metrics, options, error);
  if (!server) {
    spdlog::error("{}", error);
    return nullptr;
  }
  spdlog::info("status endpoint: http://{}/metrics (Prometheus) and /status (JSON)", server->address());
  return server;
}

// ---------------------------------------------------------------------------

bool http_get(const std::string& listen, const std::string& path, std::chrono::milliseconds timeout,
              int& status, std::string& body, std::string& error) {
  ListenAddress where;
  if (!parse_listen_address(listen, where, error)) return false;
  asio::io_context io;
  tcp::socket socket(io);
  const tcp::endpoint endpoint(asio::ip::make_address(where.host), where.port);
  const std::string request =
      fmt::format("GET {} HTTP/1.1\r\nHost: {}\r\nAccept: */*\r\nConnection: close\r\n\r\n", path, listen);
  std::string response;
  std::array<char, 4096> chunk{};
  boost::system::error_code result = asio::error::timed_out;
  constexpr size_t kMaxResponse = 4u << 20;
  std::function<void()> read_more = [&] {
    socket.async_read_some(asio::buffer(chunk), [&](boost::system::error_code ec, size_t n) {
      response.append(chunk.data(), n);
      if (ec == asio::error::eof) {
        result = {};
        return;
      }
      if (ec) {
        result = ec;
        return;
      }
      if (response.size() > kMaxResponse) {
        result = asio::error::message_size;
        return;
      }
      read_more();
    });
  };
  socket.async_connect(endpoint, [&](boost::system::error_code ec) {
    if (ec) {
      result = ec;
      return;
    }
    asio::async_write(socket, asio::buffer(request), [&](boost::system::error_code wec, size_t) {
      if (wec) {
        result = wec;
        return;
      }
      read_more();
    });
  });
  io.run_for(timeout);
  if (!io.stopped()) {
    // Timed out: cancel what is pending and let it finish before the locals go.
    boost::system::error_code ignored;
    socket.close(ignored);
    io.restart();
    io.run();
    result = asio::error::timed_out;
  }
  if (result) {
    error = fmt::format("{}: {}", where.to_string(),
                        result == asio::error::timed_out
                            ? std::string("no answer within ") + std::to_string(timeout.count()) + " ms"
                            : result.message());
    return false;
  }
  // "HTTP/1.1 200 OK\r\n...\r\n\r\nbody"
  const size_t end = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12 || end == std::string::npos) {
    error = fmt::format("{}: the answer is not HTTP", where.to_string());
    return false;
  }
  status = std::atoi(response.c_str() + 9);
  body = response.substr(end + 4);
  return true;
}

}  // namespace cv
