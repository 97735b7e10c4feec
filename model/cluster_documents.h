// A cluster stored as separate documents (the etcd datastore): the index that parses each
// document once, validates them together as the entries of one cluster file, vets the node
// records against their keys and subnet claims, and tells what changed in the services since
// the last look.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/cluster_file.h"
#include "model/config_issue.h"
#include "model/node_identity.h"
#include "model/service.h"

namespace ovl {

// A cluster stored as separate documents (the etcd datastore: one key each), each written as
// the part of the cluster file it stands for: the network section, one `nodes` entry, one
// `services` entry (YAML, or JSON, which YAML reads too). Each document is parsed once when
// set; build() validates them all together, as the entries of one cluster file are, and names
// each problem by its document's source (the key) with line and column inside it. A document
// with a problem is skipped; the others are kept.
class ClusterDocuments {
 public:
  struct Doc;  // a parsed document

  // The largest document read (etcd's default limit on a request, 1.5 MiB): a service of
  // 10,000 endpoints takes about 400 KiB. A larger one is an issue naming its key.
  static constexpr size_t kMaxDocumentBytes = 1536u * 1024;

  // networkSource: the name reported when the network document is missing.
  explicit ClusterDocuments(std::string networkSource);
  ~ClusterDocuments();
  ClusterDocuments(ClusterDocuments&&) noexcept;
  ClusterDocuments& operator=(ClusterDocuments&&) noexcept;

  void setNetwork(const std::string& source, const std::string& text);
  void clearNetwork();
  // A node document may also carry `ready: true|false` (its agent's status), which is not part
  // of the node's configuration and is ignored here.
  void setNode(const std::string& source, const std::string& text);
  void setService(const std::string& source, const std::string& text);
  void erase(const std::string& source);  // a node or service

  // From now on each node record must speak for itself (model/node_identity.h): accepted only
  // under its own name with its subnet claimed on its own lease; a value only one node may hold
  // goes to this node's own record, else to the record created first. Each record then needs
  // its origin (a record set without one is rejected), and the claims are kept here.
  void vetNodeRecords();
  void setNode(const std::string& source, const std::string& text, const NodeOrigin& origin);
  void setSubnetClaim(const Ipv4Prefix& subnet, SubnetClaim claim);
  void eraseSubnetClaim(const Ipv4Prefix& subnet);

  // The services of a service file (`services:` with a list as in the cluster file, a bare list,
  // or one service map) as documents named "FILE[i]", with marks in the file. Returns each
  // entry's id ("ns/name", "" when it has none) and its text to store; syntax problems go to
  // `issues`.
  struct ServiceEntry {
    std::string source;  // "FILE[i]"
    std::string id;
    std::string text;
    SourceMark mark;
  };
  std::vector<ServiceEntry> addServiceFile(const std::string& fileName, const std::string& text,
                                           std::vector<ConfigIssue>& issues);

  // Everything, validated together. Service documents are read again only when they (or the
  // network settings) changed since the last build() or serviceChanges().
  ClusterLoad build();

  // Whether a document was set or erased since the last build() or serviceChanges().
  bool changed() const;
  // When only service documents changed since then and the last build() was usable (not
  // fatal): the difference a build() would make to the services accepted before. Only the
  // changed documents and those sharing a cluster IP, port or id with them are read and checked
  // again; the list of problems is put together from every service's kept ones (a walk, no
  // parsing). Otherwise nullopt: build() instead.
  struct ServiceChanges {
    std::vector<svc::Service> upserts;  // accepted now, new or changed
    std::vector<std::string> removed;   // ids accepted before and no more
    std::vector<ConfigIssue> issues;    // every current problem, as build() would list them
  };
  std::optional<ServiceChanges> serviceChanges();

 private:
  struct Impl;
  static Doc parseDoc(const std::string& source, const std::string& text);
  std::string networkSource_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ovl
