// A small HTTP/1.x server for the agent's GET endpoints (/healthz, /readyz, /metrics) that a
// flood of clients cannot starve: one thread, one epoll set, a bounded number of connections, a
// deadline counted from the accept that no trickle of bytes extends, a bounded request head, and
// the oldest connection closed to make room for a new one, so a probe is always served.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "common/result.h"

namespace ovl {

struct HttpResponse {
  int status = 200;
  std::string contentType;
  std::string body;
};

// Runs on the server's thread: it must be quick and must not block (the health state is read
// under a short lock; nothing waits for the agent's loop).
using HttpHandler = std::function<HttpResponse()>;

struct HttpServerLimits {
  // Open at once; at the bound the oldest is closed for the new one. Also at most a quarter of
  // RLIMIT_NOFILE, so the endpoint never takes the descriptors the agent's loop needs.
  size_t maxConnections = 256;
  // From the accept to the end of the request head: a client sending a byte a second gains
  // nothing.
  std::chrono::milliseconds requestDeadline{2000};
  // From the end of the request to the last byte of the answer (a client that does not read).
  std::chrono::milliseconds responseDeadline{3000};
  // Request line and headers; a longer head is answered 431.
  size_t maxRequestBytes = 8192;
};

class HttpServer {
 public:
  // address: "IPv4:port" (port 0: any free port, for tests). Listens before it returns, so a
  // port in use fails here. routes: path -> handler; GET and HEAD only.
  static Result<std::unique_ptr<HttpServer>> start(const std::string& address,
                                                   std::map<std::string, HttpHandler> routes,
                                                   HttpServerLimits limits = {});
  ~HttpServer();  // stops the thread and closes every connection
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const { return port_; }
  size_t maxConnections() const;

  struct Impl;

 private:
  HttpServer() = default;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
  uint16_t port_ = 0;
};

}  // namespace ovl
