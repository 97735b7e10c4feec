// Internal to model/: what a service entry holds that no other service may (its id, each
// address:port/protocol, each nodePort/protocol), a service entry as read on its own with its
// claims, and the check of those claims across the services of one cluster file.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/config_issue.h"
#include "model/service.h"

namespace ovl {

// What a service entry holds that no other service may use, and the message when another
// already does: before + the holder + after.
struct ServiceClaim {
  enum class Space { kId, kAddress, kNodePort };
  Space space;
  std::string key;  // "ns/name", "ip:port/proto" or "nodePort/proto"
  SourceMark mark;
  std::string field;
  std::string before;
  std::string after;
  bool whereOnly;  // the holder is named by its position only
};

// A service entry read on its own (ServiceParser).
struct ParsedService {
  std::optional<svc::Service> service;  // when the entry itself has no problem
  std::vector<ConfigIssue> issues;      // its own problems
  std::vector<ServiceClaim> claims;
  std::optional<std::string> id;
  std::string who;  // "service 'ns/name'", or its path when it has no valid name
  SourceMark where;
  bool annotate = true;  // add " (service X is rejected)" to its messages
};

// The problem of a service that claims what `holder` claimed first.
ConfigIssue lostClaim(const ServiceClaim& c, const ParsedService& holder);
// The same, the holder given by its name and position (the cluster file's incremental re-read
// moves an entry's position without reading it again).
ConfigIssue lostClaim(const ServiceClaim& c, const std::string& holderWho,
                      const SourceMark& holderWhere);

// A rejected service's issues each name it, for logs read out of context.
void annotateRejected(const ParsedService& p, std::vector<ConfigIssue>& issues);

// The services of one cluster file, in file order: the first entry keeps each value it claims.
class ServiceClaims {
 public:
  // Conflicts with earlier services: the first keeps the value, this one is rejected. The
  // service goes to `accepted`, or its issues (its own, then its conflicts) to `issues`.
  void add(std::shared_ptr<const ParsedService> p, std::vector<svc::Service>& accepted,
           std::vector<ConfigIssue>& issues);

 private:
  // Services: "ns/name", "ip:port/proto" (cluster and external IPs alike), "nodePort/proto".
  // (Keys point into the claims of the services that hold them, kept alive below: no copies,
  // as the etcd datastore checks 10,000 stored services again at every change.)
  using Holders = std::unordered_map<std::string_view, const ParsedService*>;
  Holders ids_;
  Holders addresses_;
  Holders nodePorts_;
  std::vector<std::shared_ptr<const ParsedService>> parsed_;  // of the cluster file
};

}  // namespace ovl
