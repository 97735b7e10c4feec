// Internal to model/: the node entries of a cluster into Node values, each checked on its own
// and against the entries read before it (one name, underlay IP, VTEP MAC and pod subnet each).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/claim.h"
#include "model/cluster.h"
#include "model/network_parser.h"
#include "model/yaml_reader.h"

namespace ovl {

// Reads node entries one after the other, remembering what each claimed.
class NodeParser {
 public:
  explicit NodeParser(Reader& r) : r_(r) {}

  // The node of `entry` (at `path`, such as "nodes[2]"), or nullopt when it is rejected: its
  // issues, recorded by the reader, say why.
  std::optional<Node> parse(const YamlNode& entry, const std::string& path,
                            const NetworkFacts& facts);

 private:
  struct Values;  // one entry's values as read
  void readName(const Fields& f, const YamlNode& entry, Values& e);
  void readUnderlayIp(const Fields& f, const YamlNode& entry, const NetworkFacts& facts, Values& e);
  void readPodSubnet(const Fields& f, const YamlNode& entry, const NetworkFacts& facts, Values& e);
  bool claimName(const Values& e, const Claim& claim);
  void claimVtepMac(const Values& e, bool uniqueName, const Claim& claim);
  void claimUnderlayIp(const Values& e, const Claim& claim);
  void claimPodSubnet(const Values& e, const Claim& claim);

  Reader& r_;
  std::map<std::string, Claim, std::less<>> names_;
  std::map<uint32_t, Claim> underlayIps_;
  std::map<MacAddr, Claim> vtepMacs_;  // effective VTEP MACs: given or derived from the name
  std::vector<std::pair<Ipv4Prefix, Claim>> podSubnets_;
};

}  // namespace ovl
