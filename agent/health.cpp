#include "agent/health.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <httplib.h>

#include <set>

#include <nlohmann/json.hpp>

#include "agent/metrics.h"

namespace ovl {

int64_t HealthState::nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void HealthState::setIdentity(std::string node, std::string version) {
  std::lock_guard lock(mu_);
  node_ = std::move(node);
  version_ = std::move(version);
}

void HealthState::setPass(PassSummary pass) {
  std::lock_guard lock(mu_);
  converged_.store(pass.converged);
  if (pass.converged) {
    lastConverged_ = std::chrono::system_clock::now();
  }
  pass_ = std::move(pass);
}

void HealthState::setConfigIssues(std::vector<std::string> issues) {
  std::lock_guard lock(mu_);
  configIssues_ = std::move(issues);
}

void HealthState::setFindings(nlohmann::json findings, bool full) {
  std::lock_guard lock(mu_);
  if (!full) {
    static const std::set<std::string> kRpChecks{"rp_filter", "log_martians", "route"};
    for (const auto& f : findings_) {
      if (!kRpChecks.contains(f.value("check", ""))) {
        findings.push_back(f);
      }
    }
  }
  findings_ = std::move(findings);
}

void HealthState::setDatastoreProblem(std::string problem) {
  std::lock_guard lock(mu_);
  datastoreOk_.store(problem.empty());
  datastoreProblem_ = std::move(problem);
}

std::string HealthState::json() const {
  std::lock_guard lock(mu_);
  nlohmann::json lastConverged = nullptr;
  if (lastConverged_) {
    lastConverged = fmt::format("{:%Y-%m-%dT%H:%M:%S}Z",
                                fmt::gmtime(std::chrono::system_clock::to_time_t(*lastConverged_)));
  }
  nlohmann::json j{{"alive", alive()},
                   {"ready", ready()},
                   {"datastore", datastoreProblem_.empty() ? "ok" : datastoreProblem_},
                   {"peers", pass_.peers},
                   {"lastError", pass_.lastError},
                   {"configIssues", configIssues_},
                   {"findings", findings_},
                   {"node", node_},
                   {"version", version_},
                   {"services", pass_.services},
                   {"endpoints", pass_.endpoints},
                   {"lastConverged", lastConverged},
                   {"lastPassMs", pass_.ms},
                   {"vtep", pass_.vtep},
                   {"bridge", pass_.bridge}};
  return j.dump() + "\n";
}

Result<std::unique_ptr<HealthServer>> HealthServer::start(const std::string& address,
                                                          const HealthState& state,
                                                          const AgentMetrics* metrics) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) {
    return Error::msg(fmt::format("healthAddress '{}': expected IP:port", address));
  }
  std::string host = address.substr(0, colon);
  int port = std::atoi(address.c_str() + colon + 1);
  std::unique_ptr<HealthServer> hs(new HealthServer());
  hs->server_ = std::make_unique<httplib::Server>();
  const HealthState* st = &state;
  hs->server_->Get("/healthz", [st](const httplib::Request&, httplib::Response& res) {
    res.status = st->alive() ? 200 : 503;
    res.set_content(st->json(), "application/json");
  });
  hs->server_->Get("/readyz", [st](const httplib::Request&, httplib::Response& res) {
    res.status = st->alive() && st->ready() ? 200 : 503;
    res.set_content(st->json(), "application/json");
  });
  if (metrics != nullptr) {
    hs->server_->Get("/metrics", [metrics](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics->text(), "text/plain; version=0.0.4; charset=utf-8");
    });
  }
  // cpp-httplib's default adds SO_REUSEPORT, which would let a second agent share the port
  // and answer for the first. Only SO_REUSEADDR (restart while old connections linger).
  hs->server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  if (!hs->server_->bind_to_port(host, port)) {
    return Error::sys(errno != 0 ? errno : EADDRINUSE,
                      fmt::format("healthAddress {}: cannot listen", address));
  }
  hs->thread_ = std::thread([srv = hs->server_.get()] { srv->listen_after_bind(); });
  return hs;
}

HealthServer::~HealthServer() {
  if (server_) {
    server_->stop();
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

}  // namespace ovl
