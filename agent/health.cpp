#include "agent/health.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <set>

#include <nlohmann/json.hpp>

#include "agent/http_server.h"
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
  const HealthState* st = &state;
  std::map<std::string, HttpHandler> routes;
  routes["/healthz"] = [st] {
    return HttpResponse{st->alive() ? 200 : 503, "application/json", st->json()};
  };
  routes["/readyz"] = [st] {
    return HttpResponse{st->alive() && st->ready() ? 200 : 503, "application/json", st->json()};
  };
  if (metrics != nullptr) {
    routes["/metrics"] = [metrics] {
      return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", metrics->text()};
    };
  }
  auto server = HttpServer::start(address, std::move(routes));
  if (!server) {
    return server.error();
  }
  std::unique_ptr<HealthServer> hs(new HealthServer());
  hs->server_ = std::move(*server);
  return hs;
}

HealthServer::~HealthServer() = default;

}  // namespace ovl
