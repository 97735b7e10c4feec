#include "model/service_claims.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <utility>

#include "model/claim.h"

namespace ovl {

ConfigIssue lostClaim(const ServiceClaim& c, const ParsedService& holder) {
  return lostClaim(c, holder.who, holder.where);
}

ConfigIssue lostClaim(const ServiceClaim& c, const std::string& holderWho,
                      const SourceMark& holderWhere) {
  const std::string held =
      c.whereOnly ? holderWhere.toString() : Claim{holderWho, holderWhere}.toString();
  return ConfigIssue{c.mark, c.field, c.before + held + c.after};
}

void annotateRejected(const ParsedService& p, std::vector<ConfigIssue>& issues) {
  if (!p.annotate) {
    return;
  }
  const std::string suffix = p.id ? fmt::format(" (service {} is rejected)", *p.id)
                                  : std::string(" (this service is rejected)");
  for (auto& i : issues) {
    i.message += suffix;
  }
}

void ServiceClaims::add(std::shared_ptr<const ParsedService> parsed,
                        std::vector<svc::Service>& accepted, std::vector<ConfigIssue>& issues) {
  parsed_.push_back(std::move(parsed));
  const ParsedService& p = *parsed_.back();  // outlives the maps that point into it
  std::vector<ConfigIssue> own = p.issues;
  for (const ServiceClaim& c : p.claims) {
    auto& space = c.space == ServiceClaim::Space::kId        ? ids_
                  : c.space == ServiceClaim::Space::kAddress ? addresses_
                                                             : nodePorts_;
    auto [it, inserted] = space.try_emplace(c.key, &p);
    if (!inserted) {
      own.push_back(lostClaim(c, *it->second));
    }
  }
  if (own.empty()) {
    accepted.push_back(*p.service);
    return;
  }
  annotateRejected(p, own);
  std::move(own.begin(), own.end(), std::back_inserter(issues));
}

}  // namespace ovl
