#include "model/cluster_documents.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <functional>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>

#include "model/network_parser.h"
#include "model/node_identity.h"
#include "model/node_parser.h"
#include "model/service_claims.h"
#include "model/service_parser.h"
#include "model/yaml_limits.h"
#include "model/yaml_reader.h"

namespace ovl {

// One stored document: its YAML tree, or the syntax error that kept it from being read. (A
// service document is read on its own when it is checked: ClusterDocuments::Impl.) A stored
// service document keeps its text instead of its tree: the tree is many times the text's size
// and is needed only while the service is read, so it is made then and let go (10,000
// services' trees held at once were most of the agent's memory).
struct ClusterDocuments::Doc {
  std::string source;
  YAML::Node root;
  std::vector<ConfigIssue> syntax;
  std::optional<std::string> text;  // a service document, read when it is checked
};

namespace {

// Runs fn(0) .. fn(n - 1), each once, on up to maxThreads threads (this one included); an
// exception thrown by fn is rethrown here. Each service document is read on its own, so a
// cluster's worth of them (an etcd datastore's start) is read by the machine's cores at once.
void parallelFor(size_t n, const std::function<void(size_t)>& fn, size_t maxThreads = 4) {
  constexpr size_t kPerThread = 64;  // fewer than this per thread is not worth a thread
  const size_t cores = std::max(1u, std::thread::hardware_concurrency());
  const size_t threads = std::min({maxThreads, cores, (n + kPerThread - 1) / kPerThread});
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::exception_ptr failure;
  auto work = [&] {
    try {
      for (size_t i = next++; i < n; i = next++) {
        fn(i);
      }
    } catch (...) {
      std::lock_guard lock(mu);
      failure = std::current_exception();
      next = n;
    }
  };
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < threads; ++t) {
    helpers.emplace_back(work);
  }
  work();
  for (auto& h : helpers) {
    h.join();
  }
  if (failure) {
    std::rethrow_exception(failure);
  }
}

// The records' origins and the subnet claims, when node records are vetted (etcd).
struct NodeVetting {
  const std::map<std::string, NodeOrigin>& origins;  // by source
  const SubnetClaims& claims;
};

// Node records that must speak for themselves (model/node_identity.h): each is read on its own
// first (its own problems), then vetted (its key, lease and subnet claim), and the survivors
// take the values only one node may hold in the order of takesValuesFirst(), so a record
// written later cannot take an underlay IP, a VTEP MAC or a subnet from an existing node.
void parseVettedNodes(Reader& r, ClusterLoad& out,
                      const std::map<std::string, ClusterDocuments::Doc>& nodes,
                      const NodeVetting& vetting, const NetworkFacts& facts) {
  static const NodeOrigin kUnknown;  // no origin given: bound to nothing, so rejected
  struct Vetted {
    const ClusterDocuments::Doc* doc;
    const NodeOrigin* origin;
  };
  std::vector<Vetted> vetted;
  for (const auto& [key, doc] : nodes) {
    if (!doc.syntax.empty()) {
      out.issues.insert(out.issues.end(), doc.syntax.begin(), doc.syntax.end());
      continue;
    }
    r.setFile(doc.source);
    NodeParser alone(r);
    auto node = alone.parse(doc.root, "node", facts);
    if (!node) {
      continue;  // its issues say why
    }
    auto it = vetting.origins.find(key);
    const NodeOrigin& origin = it == vetting.origins.end() ? kUnknown : it->second;
    std::string field;
    std::string why = identityProblem(*node, origin, vetting.claims, field);
    if (!why.empty()) {
      const YAML::Node at = doc.root[field.substr(field.find('.') + 1)];
      r.issue(at.IsDefined() ? r.markOf(at) : node->mark, field, std::move(why));
      continue;
    }
    vetted.push_back(Vetted{&doc, &origin});
  }
  std::sort(vetted.begin(), vetted.end(), [](const Vetted& a, const Vetted& b) {
    return takesValuesFirst(*a.origin, a.doc->source, *b.origin, b.doc->source);
  });
  NodeParser together(r);
  for (const Vetted& v : vetted) {
    r.setFile(v.doc->source);
    if (auto node = together.parse(v.doc->root, "node", facts)) {
      out.cluster.nodes.push_back(std::move(*node));
    }
  }
  // In key order, as without vetting (each accepted record's name is its key's).
  std::sort(out.cluster.nodes.begin(), out.cluster.nodes.end(),
            [](const Node& a, const Node& b) { return a.name < b.name; });
}

// The network and node documents, each read as the section or list entry of the cluster file
// it stands for, and the nodes checked against each other (one subnet or underlay IP per node)
// as the entries of one file are. The services are ClusterDocuments::Impl's own; their checks
// need the facts returned.
NetworkFacts parseStructure(Reader& r, ClusterLoad& out, const ClusterDocuments::Doc* network,
                            const std::map<std::string, ClusterDocuments::Doc>& nodes,
                            const std::string& missingNetworkSource, const NodeVetting* vetting) {
  out.strictStartup = false;
  NetworkFacts facts;
  if (network == nullptr) {
    r.issue(SourceMark{missingNetworkSource}, "network",
            "missing: the network settings (podCIDR and the others, as in the cluster "
            "file's network section) are not stored");
  } else if (!network->syntax.empty()) {
    out.issues.insert(out.issues.end(), network->syntax.begin(), network->syntax.end());
  } else {
    r.setFile(network->source);
    facts = parseNetwork(r, network->root, out.cluster.network);
  }
  out.fatal = r.issueCount() > 0;
  if (vetting != nullptr) {
    parseVettedNodes(r, out, nodes, *vetting, facts);
    return facts;
  }
  NodeParser parser(r);
  for (const auto& [key, doc] : nodes) {
    if (!doc.syntax.empty()) {
      out.issues.insert(out.issues.end(), doc.syntax.begin(), doc.syntax.end());
      continue;
    }
    r.setFile(doc.source);
    if (auto node = parser.parse(doc.root, "node", facts)) {
      out.cluster.nodes.push_back(std::move(*node));
    }
  }
  return facts;
}

}  // namespace

struct ClusterDocuments::Impl {
  std::optional<Doc> network;
  uint64_t networkGeneration = 1;             // bumped whenever the network document changes
  std::map<std::string, Doc> nodes;           // by source
  bool vetNodes = false;                      // node records must speak for themselves (etcd)
  std::map<std::string, NodeOrigin> origins;  // of the node records, by source
  SubnetClaims claims;
  std::map<std::string, Doc> services;  // by source

  // The services as last checked. A service document is read on its own (parseService) once
  // per content and network generation; its claims (id, ip:port/proto, nodePort/proto) go into
  // `holders`, where the first source in order keeps each value, as the first entry of a file
  // does. A change is checked again only against the sources that share a claim with it.
  struct Slot {
    std::shared_ptr<const ParsedService> parsed;  // null: the document is not valid YAML
    std::vector<ConfigIssue> issues;              // as reported: own problems, then conflicts
    std::optional<std::string> acceptedId;        // when accepted
  };
  std::map<std::string, Slot> slots;                               // by source
  std::unordered_map<std::string, std::set<std::string>> holders;  // claim -> sources in order
  std::set<std::string> dirtyServices;  // set or erased since the last check
  bool structureDirty = true;           // network or nodes changed (or never built)
  bool lastFatal = true;
  uint64_t checkedGeneration = 0;            // the network generation the slots were read with
  NetworkFacts facts;                        // of the last build
  std::vector<ConfigIssue> structureIssues;  // network and nodes, of the last build

  static std::string claimKey(const ServiceClaim& c) {
    std::string k(1, static_cast<char>('0' + static_cast<int>(c.space)));
    k += c.key;
    return k;
  }

  // Brings the slots up to date with the documents. Returns what changed in the accepted
  // services (upserts: their sources).
  struct Diff {
    std::vector<const std::string*> upserts;  // sources, now accepted, new or changed
    std::vector<std::string> removed;         // ids
  };
  Diff checkServices();

  std::vector<ConfigIssue> issues() const {
    std::vector<ConfigIssue> out = structureIssues;
    for (const auto& [source, slot] : slots) {
      out.insert(out.end(), slot.issues.begin(), slot.issues.end());
    }
    return out;
  }

 private:
  std::set<std::string> rereadChanged();
  std::shared_ptr<const ParsedService> readService(Doc& doc) const;
  void release(const std::string& source, const ParsedService& p, std::set<std::string>& affected);
  void hold(const std::string& source, const ParsedService& p, std::set<std::string>& affected);
  bool judge(const std::string& source, Slot& slot);
};

// Reads the changed service documents again (every one when the network changed) and moves
// their claims in `holders`. Returns the sources whose outcome may have changed: the changed
// ones and those that share a claim with them, before or after.
std::set<std::string> ClusterDocuments::Impl::rereadChanged() {
  if (checkedGeneration != networkGeneration) {  // every service is read again
    for (const auto& [source, slot] : slots) {
      dirtyServices.insert(source);
    }
    for (const auto& [source, doc] : services) {
      dirtyServices.insert(source);
    }
    checkedGeneration = networkGeneration;
  }
  // Each document is read on its own (several at once); the claims are then moved in order.
  std::vector<const std::string*> sources;
  std::vector<Doc*> docs;  // null: erased
  for (const std::string& source : dirtyServices) {
    auto doc = services.find(source);
    sources.push_back(&source);
    docs.push_back(doc == services.end() ? nullptr : &doc->second);
  }
  // Entries of a service file share one tree, which yaml-cpp does not let threads read at once.
  const bool ownTrees =
      std::all_of(docs.begin(), docs.end(), [](const Doc* d) { return d == nullptr || d->text; });
  std::vector<std::shared_ptr<const ParsedService>> parsed(docs.size());
  parallelFor(
      docs.size(),
      [&](size_t i) {
        if (docs[i] != nullptr) {
          parsed[i] = readService(*docs[i]);
        }
      },
      ownTrees ? 4 : 1);
  std::set<std::string> affected;
  for (size_t i = 0; i < sources.size(); ++i) {
    const std::string& source = *sources[i];
    affected.insert(source);
    Slot& slot = slots[source];
    if (slot.parsed) {
      release(source, *slot.parsed, affected);
    }
    slot.parsed = std::move(parsed[i]);
    if (slot.parsed) {
      hold(source, *slot.parsed, affected);
    }
  }
  return affected;
}

// One service document read on its own (any thread; it touches only `doc`): null when it is not
// valid YAML (its syntax problems are kept in the document). A stored text is parsed here, and
// its tree let go when the service is read.
std::shared_ptr<const ParsedService> ClusterDocuments::Impl::readService(Doc& doc) const {
  YAML::Node root = doc.root;
  if (doc.text) {
    Doc fresh = parseDoc(doc.source, *doc.text);
    doc.syntax = std::move(fresh.syntax);
    root = fresh.root;
  }
  if (!doc.syntax.empty()) {
    return nullptr;
  }
  std::vector<ConfigIssue> scratch;  // parseService takes its issues out of it
  Reader r(doc.source, scratch);
  return std::make_shared<const ParsedService>(parseService(r, root, "service", facts));
}

// Gives up the claims of `source`; those that held them with it are affected.
void ClusterDocuments::Impl::release(const std::string& source, const ParsedService& p,
                                     std::set<std::string>& affected) {
  for (const ServiceClaim& c : p.claims) {
    auto it = holders.find(claimKey(c));
    if (it == holders.end()) {
      continue;
    }
    affected.insert(it->second.begin(), it->second.end());
    it->second.erase(source);
    if (it->second.empty()) {
      holders.erase(it);
    }
  }
}

// Takes the claims of `source`; those that hold them too are affected.
void ClusterDocuments::Impl::hold(const std::string& source, const ParsedService& p,
                                  std::set<std::string>& affected) {
  for (const ServiceClaim& c : p.claims) {
    std::set<std::string>& sources = holders[claimKey(c)];
    sources.insert(source);
    affected.insert(sources.begin(), sources.end());
  }
}

// The slot's issues as reported: its own problems, then each claim another source holds first
// (or that it makes twice). Returns whether it is accepted, and then records its id.
bool ClusterDocuments::Impl::judge(const std::string& source, Slot& slot) {
  const ParsedService& p = *slot.parsed;
  slot.issues = p.issues;
  std::set<std::string> own;  // a value claimed twice by one service conflicts with itself
  for (const ServiceClaim& c : p.claims) {
    const std::string key = claimKey(c);
    const std::string& first = *holders.at(key).begin();
    if (first != source) {
      slot.issues.push_back(lostClaim(c, *slots.at(first).parsed));
    } else if (!own.insert(key).second) {
      slot.issues.push_back(lostClaim(c, p));
    }
  }
  if (!slot.issues.empty()) {
    annotateRejected(p, slot.issues);
    return false;
  }
  slot.acceptedId = p.service->id();
  return true;
}

ClusterDocuments::Impl::Diff ClusterDocuments::Impl::checkServices() {
  const std::set<std::string> affected = rereadChanged();
  std::set<std::string> dirty = std::move(dirtyServices);
  dirtyServices.clear();

  Diff diff;
  std::set<std::string> before;
  std::set<std::string> after;
  for (const std::string& source : affected) {
    auto it = slots.find(source);
    if (it == slots.end()) {
      continue;
    }
    Slot& slot = it->second;
    if (slot.acceptedId) {
      before.insert(*slot.acceptedId);
    }
    auto doc = services.find(source);
    if (doc == services.end()) {
      slots.erase(it);
      continue;
    }
    const bool wasAccepted = slot.acceptedId.has_value();
    slot.acceptedId.reset();
    if (!slot.parsed) {
      slot.issues = doc->second.syntax;
      continue;
    }
    if (!judge(source, slot)) {
      continue;
    }
    after.insert(*slot.acceptedId);
    if (!wasAccepted || dirty.contains(source)) {
      diff.upserts.push_back(&it->first);
    }
  }
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                      std::back_inserter(diff.removed));
  return diff;
}

ClusterDocuments::ClusterDocuments(std::string networkSource)
    : networkSource_(std::move(networkSource)), impl_(std::make_unique<Impl>()) {}
ClusterDocuments::~ClusterDocuments() = default;
ClusterDocuments::ClusterDocuments(ClusterDocuments&&) noexcept = default;
ClusterDocuments& ClusterDocuments::operator=(ClusterDocuments&&) noexcept = default;

ClusterDocuments::Doc ClusterDocuments::parseDoc(const std::string& source,
                                                 const std::string& text) {
  Doc doc;
  doc.source = source;
  Reader r(source, doc.syntax);
  r.setMaxDepth(kMaxDocumentDepth);
  // Bounded here, not by etcd's own request limit (which a cluster may raise): a value is
  // refused before any of it is parsed. Its depth and aliases are bounded by Reader::load.
  if (text.size() > kMaxDocumentBytes) {
    r.issue(SourceMark{source}, "",
            fmt::format("the stored value is {} bytes; expected at most {} bytes (one network "
                        "section, node or service)",
                        text.size(), kMaxDocumentBytes));
    return doc;
  }
  try {
    if (auto root = r.load(text)) {
      doc.root = *root;
    }
  } catch (const YAML::Exception& e) {
    r.issue(r.markOf(e.mark), "", fmt::format("invalid YAML: {}", e.msg));
  }
  return doc;
}

void ClusterDocuments::setNetwork(const std::string& source, const std::string& text) {
  impl_->network = parseDoc(source, text);
  ++impl_->networkGeneration;
  impl_->structureDirty = true;
}

void ClusterDocuments::clearNetwork() {
  impl_->network.reset();
  ++impl_->networkGeneration;
  impl_->structureDirty = true;
}

void ClusterDocuments::setNode(const std::string& source, const std::string& text) {
  Doc doc = parseDoc(source, text);
  // A node's own record also says whether its agent is ready: a status, not configuration.
  if (doc.syntax.empty() && doc.root.IsMap() && doc.root["ready"]) {
    doc.root.remove("ready");
  }
  impl_->nodes[source] = std::move(doc);
  impl_->structureDirty = true;
}

void ClusterDocuments::vetNodeRecords() {
  impl_->vetNodes = true;
  impl_->structureDirty = true;
}

void ClusterDocuments::setNode(const std::string& source, const std::string& text,
                               const NodeOrigin& origin) {
  setNode(source, text);
  impl_->origins[source] = origin;
}

void ClusterDocuments::setSubnetClaim(const Ipv4Prefix& subnet, SubnetClaim claim) {
  impl_->claims[subnet] = std::move(claim);
  impl_->structureDirty = true;
}

void ClusterDocuments::eraseSubnetClaim(const Ipv4Prefix& subnet) {
  if (impl_->claims.erase(subnet) > 0) {
    impl_->structureDirty = true;
  }
}

void ClusterDocuments::setService(const std::string& source, const std::string& text) {
  Doc doc;
  if (text.size() > kMaxDocumentBytes) {
    doc = parseDoc(source, text);  // refused at once, not held
  } else {
    doc.source = source;
    doc.text = text;  // read when it is checked (Impl::readService)
  }
  impl_->services[source] = std::move(doc);
  impl_->dirtyServices.insert(source);
}

void ClusterDocuments::erase(const std::string& source) {
  if (impl_->nodes.erase(source) > 0) {
    impl_->origins.erase(source);
    impl_->structureDirty = true;
  }
  if (impl_->services.erase(source) > 0) {
    impl_->dirtyServices.insert(source);
  }
}

namespace {

// The service entries of a service file's tree: `services:` with a list, a bare list, or one
// service map. nullopt after an issue when it is none of these.
std::optional<std::vector<YAML::Node>> serviceFileEntries(Reader& r, const YAML::Node& root) {
  std::vector<YAML::Node> entries;
  if (root.IsMap() && root["services"]) {
    const YAML::Node list = root["services"];
    if (!list.IsSequence()) {
      r.issue(list, "services",
              fmt::format("expected a sequence of service entries (- namespace: ...); got {}",
                          describe(list)));
      return std::nullopt;
    }
    for (const auto& e : list) {
      entries.push_back(e);
    }
  } else if (root.IsMap()) {
    entries.push_back(root);  // one service
  } else if (root.IsSequence()) {
    for (const auto& e : root) {
      entries.push_back(e);
    }
  } else {
    r.issue(root, "",
            fmt::format("expected `services:` with a list of services, or one service (a map "
                        "with namespace, name, ...); got {}",
                        describe(root)));
    return std::nullopt;
  }
  return entries;
}

}  // namespace

std::vector<ClusterDocuments::ServiceEntry> ClusterDocuments::addServiceFile(
    const std::string& fileName, const std::string& text, std::vector<ConfigIssue>& issues) {
  std::vector<ServiceEntry> out;
  Reader r(fileName, issues);
  std::optional<YAML::Node> root;
  try {
    root = r.load(text);
  } catch (const YAML::Exception& e) {
    r.issue(r.markOf(e.mark), "", fmt::format("invalid YAML: {}", e.msg));
  }
  if (!root) {
    return out;
  }
  std::optional<std::vector<YAML::Node>> entries = serviceFileEntries(r, *root);
  if (!entries) {
    return out;
  }
  for (size_t i = 0; i < entries->size(); ++i) {
    const YAML::Node& e = (*entries)[i];
    ServiceEntry se;
    se.source = fmt::format("{}[{}]", fileName, i);
    se.mark = r.markOf(e);
    if (e.IsMap() && e["namespace"] && e["namespace"].IsScalar() && e["name"] &&
        e["name"].IsScalar()) {
      se.id = e["namespace"].Scalar() + "/" + e["name"].Scalar();
    }
    se.text = YAML::Dump(e) + "\n";
    Doc doc;
    doc.source = fileName;
    doc.root = e;  // marks stay those of the file
    impl_->services[se.source] = std::move(doc);
    impl_->dirtyServices.insert(se.source);
    out.push_back(std::move(se));
  }
  return out;
}

ClusterLoad ClusterDocuments::build() {
  ClusterLoad out;
  Impl& m = *impl_;
  try {
    Reader r(networkSource_, out.issues);
    const NodeVetting vetting{m.origins, m.claims};
    const NetworkFacts facts = parseStructure(r, out, m.network ? &*m.network : nullptr, m.nodes,
                                              networkSource_, m.vetNodes ? &vetting : nullptr);
    // The same facts read the services as before: only the changed ones are read again.
    m.facts = facts;
    m.structureIssues = out.issues;
    m.checkServices();
    out.issues = m.issues();
    out.cluster.services.reserve(m.slots.size());
    for (const auto& [source, slot] : m.slots) {
      if (slot.acceptedId) {
        out.cluster.services.push_back(*slot.parsed->service);
      }
    }
  } catch (const YAML::Exception& e) {
    // Not expected (the reader catches what yaml-cpp throws), but a build must never leave the
    // slots half-checked: the next one reads every service again.
    m.checkedGeneration = 0;
    Reader r(networkSource_, out.issues);
    r.issue(r.markOf(e.mark), "", fmt::format("invalid YAML: {}", e.msg));
    out.fatal = true;
  }
  m.structureDirty = false;
  m.lastFatal = out.fatal;
  return out;
}

bool ClusterDocuments::changed() const {
  return impl_->structureDirty || !impl_->dirtyServices.empty();
}

std::optional<ClusterDocuments::ServiceChanges> ClusterDocuments::serviceChanges() {
  Impl& m = *impl_;
  if (m.structureDirty || m.lastFatal) {
    return std::nullopt;
  }
  ServiceChanges out;
  try {
    Impl::Diff diff = m.checkServices();
    out.upserts.reserve(diff.upserts.size());
    for (const std::string* source : diff.upserts) {
      out.upserts.push_back(*m.slots.at(*source).parsed->service);
    }
    out.removed = std::move(diff.removed);
  } catch (const YAML::Exception&) {
    m.checkedGeneration = 0;  // as in build(): read everything again, in a build
    m.structureDirty = true;
    return std::nullopt;
  }
  out.issues = m.issues();
  return out;
}

}  // namespace ovl
