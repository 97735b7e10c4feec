#include "model/cluster_increment.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstring>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "model/cluster_parts.h"

namespace ovl {

namespace {

// One entry of the services list: its reading, where it is now, and where it was read (its
// marks count from that line, its fields name that index).
struct ListEntry {
  std::shared_ptr<const ParsedService> parsed;
  size_t start = 0;        // byte offset of its first line in the text
  size_t line = 0;         // its first line (0-based)
  size_t parsedLine = 0;   // the first line it was read at
  size_t index = 0;        // its index in the list now
  size_t parsedIndex = 0;  // the index it was read at

  int shift() const { return static_cast<int>(line) - static_cast<int>(parsedLine); }
  bool moved() const { return line != parsedLine || index != parsedIndex; }
};

// The accepted services: id (a view into its entry's reading) -> index of the entry.
using AcceptedIndex = std::unordered_map<std::string_view, size_t>;

// The claims of every entry checked in file order, as ServiceClaims does for a whole parse.
struct ClaimsOutcome {
  std::vector<char> accepted;  // per entry
  std::vector<ConfigIssue> issues;
};

// A claim's field names the index the entry was read at ("services[7].clusterIP").
std::string fieldNow(const std::string& field, const ListEntry& e) {
  if (e.index == e.parsedIndex) {
    return field;
  }
  const std::string was = fmt::format("services[{}]", e.parsedIndex);
  if (field.rfind(was, 0) != 0) {
    return field;
  }
  return fmt::format("services[{}]", e.index) + field.substr(was.size());
}

ConfigIssue lostTo(const ServiceClaim& c, const ListEntry& claimer, const ListEntry& holder) {
  if (!claimer.moved() && !holder.moved()) {
    return lostClaim(c, *holder.parsed);
  }
  ServiceClaim now = c;
  now.mark.line += claimer.shift();
  now.field = fieldNow(c.field, claimer);
  SourceMark where = holder.parsed->where;
  where.line += holder.shift();
  return lostClaim(now, holder.parsed->who, where);
}

// Entries that moved keep their reading only when it has no issue of its own (an issue's
// message may quote a position or the index), so only their marks and claim fields move here.
ClaimsOutcome runClaims(const std::vector<ListEntry>& entries) {
  ClaimsOutcome out;
  out.accepted.assign(entries.size(), 0);
  std::unordered_map<std::string_view, size_t> spaces[3];
  spaces[0].reserve(entries.size());
  spaces[1].reserve(entries.size() * 2);
  for (size_t i = 0; i < entries.size(); ++i) {
    const ParsedService& p = *entries[i].parsed;
    std::vector<ConfigIssue> own = p.issues;
    for (const ServiceClaim& c : p.claims) {
      auto& space = spaces[static_cast<size_t>(c.space)];
      auto [it, inserted] = space.try_emplace(c.key, i);
      if (!inserted) {
        own.push_back(lostTo(c, entries[i], entries[it->second]));
      }
    }
    if (own.empty()) {
      out.accepted[i] = 1;
      continue;
    }
    annotateRejected(p, own);
    std::move(own.begin(), own.end(), std::back_inserter(out.issues));
  }
  return out;
}

// nullopt when an accepted entry has no id (not expected: then nothing is sure).
std::optional<AcceptedIndex> acceptedIndex(const std::vector<ListEntry>& entries,
                                           const std::vector<char>& accepted) {
  AcceptedIndex out;
  out.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    if (accepted[i] == 0) {
      continue;
    }
    const ParsedService& p = *entries[i].parsed;
    if (!p.id || !p.service) {
      return std::nullopt;
    }
    out.emplace(*p.id, i);
  }
  return out;
}

svc::Service serviceNow(const ListEntry& e) {
  svc::Service s = *e.parsed->service;
  s.mark.line += e.shift();
  return s;
}

size_t commonPrefix(std::string_view a, std::string_view b) {
  const size_t n = std::min(a.size(), b.size());
  constexpr size_t kBlock = 4096;  // memcmp by blocks, then bytes
  size_t i = 0;
  while (i + kBlock <= n && std::memcmp(a.data() + i, b.data() + i, kBlock) == 0) {
    i += kBlock;
  }
  while (i < n && a[i] == b[i]) {
    ++i;
  }
  return i;
}

size_t commonSuffix(std::string_view a, std::string_view b, size_t max) {
  constexpr size_t kBlock = 4096;
  size_t i = 0;
  while (i + kBlock <= max && std::memcmp(a.data() + a.size() - i - kBlock,
                                          b.data() + b.size() - i - kBlock, kBlock) == 0) {
    i += kBlock;
  }
  while (i < max && a[a.size() - i - 1] == b[b.size() - i - 1]) {
    ++i;
  }
  return i;
}

// A line that a YAML scan of the region alone would read otherwise than the whole text: a
// document marker or a directive.
bool hasDocumentLine(std::string_view region) {
  for (const std::string_view line : splitLines(region)) {
    if (line.starts_with("---") || line.starts_with("...") || line.starts_with("%")) {
      return true;
    }
  }
  return false;
}

// An entry's first line: "- " at the list's column, then something other than a comment (an
// empty "-" entry's node may start on a later line, which the whole-text scan refuses).
bool entryLineQualifies(std::string_view line, size_t dashColumn) {
  if (line.find_first_not_of(' ') != dashColumn || line.size() < dashColumn + 2 ||
      line[dashColumn] != '-') {
    return false;
  }
  const size_t rest = line.find_first_not_of(' ', dashColumn + 1);
  return rest != std::string_view::npos && rest > dashColumn + 1 && line[rest] != '#';
}

}  // namespace

struct ClusterFileState::State {
  std::string file;
  std::string text;
  bool usable = false;  // the text may be the base of an update()
  ClusterLoad rest;     // network, nodes and fatal; no services, no issues
  std::vector<ConfigIssue> restIssues;
  NetworkFacts facts;
  std::vector<ListEntry> entries;
  size_t listFrom = 0;  // bytes of the services list in the text
  size_t listTo = 0;
  size_t dashColumn = 0;
  std::vector<char> accepted;  // per entry
  AcceptedIndex acceptedIds;
  std::vector<ConfigIssue> issues;  // the whole file's, sorted

  // The bytes and entries a change touches, in the last text and in the next.
  struct Span {
    size_t first = 0;  // the first entry touched
    size_t last = 0;   // the last entry touched
    size_t from = 0;   // where the first touched entry starts (both texts)
    size_t to = 0;     // where the entries after the last touched one start, in the next text
    ptrdiff_t bytes = 0;
    ptrdiff_t lines = 0;
  };

  void adopt(ClusterParts& parts);
  std::optional<ClusterServiceChanges> apply(std::string next);
  std::optional<Span> findSpan(const std::string& next) const;
  std::optional<std::vector<ListEntry>> readSpan(const std::string& next, const Span& span) const;
  std::vector<ListEntry> entriesAfter(const std::string& next, const Span& span, size_t count,
                                      size_t& reparsed) const;
  ListEntry readEntry(const std::string& next, size_t from, size_t to, size_t line,
                      size_t index) const;
};

void ClusterFileState::State::adopt(ClusterParts& parts) {
  const ServiceLines& split = *parts.split;
  const std::vector<std::string_view> lines = splitLines(text);
  auto offset = [&](size_t line) {
    return line < lines.size() ? static_cast<size_t>(lines[line].data() - text.data())
                               : text.size();
  };
  entries.clear();
  entries.reserve(split.itemStart.size());
  for (size_t i = 0; i < split.itemStart.size() && i < parts.entries.size(); ++i) {
    const size_t line = split.itemStart[i];
    entries.push_back(ListEntry{std::move(parts.entries[i]), offset(line), line, line, i, i});
  }
  listFrom = offset(split.itemStart.front());
  listTo = offset(split.end);
  dashColumn = lines[split.itemStart.front()].find_first_not_of(' ');
  rest.cluster.network = parts.load.cluster.network;
  rest.cluster.nodes = parts.load.cluster.nodes;
  rest.fatal = parts.load.fatal;
  restIssues = std::move(parts.restIssues);
  facts = parts.facts;
  ClaimsOutcome claims = runClaims(entries);
  issues = restIssues;
  std::move(claims.issues.begin(), claims.issues.end(), std::back_inserter(issues));
  sortByPosition(issues);
  accepted = std::move(claims.accepted);
  auto ids = acceptedIndex(entries, accepted);
  // The re-check of the claims must give what the whole parse gave, or nothing is sure.
  usable = ids && entries.size() == split.itemStart.size() &&
           static_cast<size_t>(std::count(accepted.begin(), accepted.end(), 1)) ==
               parts.load.cluster.services.size() &&
           issues.size() == parts.load.issues.size();
  for (size_t i = 0; usable && i < issues.size(); ++i) {
    usable = issues[i].toString() == parts.load.issues[i].toString();
  }
  if (ids) {
    acceptedIds = std::move(*ids);
  }
}

std::optional<ClusterFileState::State::Span> ClusterFileState::State::findSpan(
    const std::string& next) const {
  const size_t p = commonPrefix(text, next);
  const size_t s = commonSuffix(text, next, std::min(text.size(), next.size()) - p);
  const size_t oldEnd = text.size() - s;
  const size_t newEnd = next.size() - s;
  if (p < listFrom || oldEnd > listTo) {
    return std::nullopt;  // network, nodes or anything outside the services list
  }
  Span span;
  span.bytes = static_cast<ptrdiff_t>(next.size()) - static_cast<ptrdiff_t>(text.size());
  span.lines = std::count(next.begin() + static_cast<ptrdiff_t>(p),
                          next.begin() + static_cast<ptrdiff_t>(newEnd), '\n') -
               std::count(text.begin() + static_cast<ptrdiff_t>(p),
                          text.begin() + static_cast<ptrdiff_t>(oldEnd), '\n');
  if (span.lines != 0 && listTo < text.size()) {
    return std::nullopt;  // what follows the list would move: parsed whole
  }
  // From the entry holding the byte before the change (text may have been added to its end) to
  // the one holding the first byte after it (its first line may now read otherwise).
  auto holding = [&](size_t at) {
    auto it = std::upper_bound(entries.begin(), entries.end(), at,
                               [](size_t off, const ListEntry& e) { return off < e.start; });
    return static_cast<size_t>(it - entries.begin()) - 1;
  };
  span.first = holding(p > listFrom ? p - 1 : p);
  span.last = std::max(span.first, holding(oldEnd));
  span.from = entries[span.first].start;
  const size_t oldTo = span.last + 1 < entries.size() ? entries[span.last + 1].start : listTo;
  span.to = static_cast<size_t>(static_cast<ptrdiff_t>(oldTo) + span.bytes);
  if (span.from == 0 || span.to <= span.from || next[span.from - 1] != '\n' ||
      (span.to != next.size() && next[span.to - 1] != '\n')) {
    return std::nullopt;
  }
  return span;
}

ListEntry ClusterFileState::State::readEntry(const std::string& next, size_t from, size_t to,
                                             size_t line, size_t index) const {
  auto parsed = std::make_shared<const ParsedService>(
      parseServiceEntry(file, next.substr(from, to - from), line, index, facts));
  return ListEntry{std::move(parsed), from, line, line, index, index};
}

// The entries of the span in the next text, each read on its own, when a scan of the span alone
// finds entries as a scan of the whole next text would: from its first line to its end, at the
// list's column, with no anchors, aliases or document markers. nullopt otherwise.
std::optional<std::vector<ListEntry>> ClusterFileState::State::readSpan(const std::string& next,
                                                                        const Span& span) const {
  const std::string_view region(next.data() + span.from, span.to - span.from);
  if (hasDocumentLine(region)) {
    return std::nullopt;
  }
  constexpr std::string_view kHead = "services:\n";
  std::string doc(kHead);
  doc += region;
  const std::vector<std::string_view> lines = splitLines(doc);
  const std::optional<ServiceLines> scan = findServiceLines(doc, lines);
  if (!scan || scan->itemStart.front() != 1 || scan->end != lines.size()) {
    return std::nullopt;
  }
  std::vector<ListEntry> out;
  out.reserve(scan->itemStart.size());
  const size_t firstLine = entries[span.first].line;
  for (size_t j = 0; j < scan->itemStart.size(); ++j) {
    const std::string_view line = lines[scan->itemStart[j]];
    if (!entryLineQualifies(line, dashColumn)) {
      return std::nullopt;
    }
    const size_t from = span.from + static_cast<size_t>(line.data() - doc.data()) - kHead.size();
    const size_t to =
        j + 1 < scan->itemStart.size()
            ? span.from + static_cast<size_t>(lines[scan->itemStart[j + 1]].data() - doc.data()) -
                  kHead.size()
            : span.to;
    out.push_back(readEntry(next, from, to, firstLine + scan->itemStart[j] - 1, span.first + j));
  }
  return out;
}

// The entries after the span, moved by the change: they keep their reading unless it has
// issues of its own (whose messages may quote its position or index); those are read again.
std::vector<ListEntry> ClusterFileState::State::entriesAfter(const std::string& next,
                                                             const Span& span, size_t count,
                                                             size_t& reparsed) const {
  std::vector<ListEntry> out;
  out.reserve(entries.size() - span.last - 1);
  size_t index = span.first + count;
  for (size_t i = span.last + 1; i < entries.size(); ++i, ++index) {
    ListEntry e = entries[i];
    e.start = static_cast<size_t>(static_cast<ptrdiff_t>(e.start) + span.bytes);
    e.line = static_cast<size_t>(static_cast<ptrdiff_t>(e.line) + span.lines);
    e.index = index;
    if (e.moved() && !e.parsed->issues.empty()) {
      const size_t to =
          i + 1 < entries.size()
              ? static_cast<size_t>(static_cast<ptrdiff_t>(entries[i + 1].start) + span.bytes)
              : static_cast<size_t>(static_cast<ptrdiff_t>(listTo) + span.bytes);
      e = readEntry(next, e.start, to, e.line, index);
      ++reparsed;
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::optional<ClusterServiceChanges> ClusterFileState::State::apply(std::string next) {
  const std::optional<Span> span = findSpan(next);
  if (!span) {
    return std::nullopt;
  }
  std::optional<std::vector<ListEntry>> read = readSpan(next, *span);
  if (!read) {
    return std::nullopt;
  }
  ClusterServiceChanges out;
  out.reparsed = read->size();
  std::vector<ListEntry> now(entries.begin(),
                             entries.begin() + static_cast<ptrdiff_t>(span->first));
  now.reserve(entries.size() + read->size());
  std::move(read->begin(), read->end(), std::back_inserter(now));
  std::vector<ListEntry> after = entriesAfter(next, *span, read->size(), out.reparsed);
  std::move(after.begin(), after.end(), std::back_inserter(now));

  ClaimsOutcome claims = runClaims(now);
  std::optional<AcceptedIndex> ids = acceptedIndex(now, claims.accepted);
  if (!ids) {
    return std::nullopt;
  }
  for (const auto& [id, at] : *ids) {
    auto was = acceptedIds.find(id);
    const ListEntry& e = now[at];
    if (was == acceptedIds.end() ||
        (entries[was->second].parsed != e.parsed &&
         !(*entries[was->second].parsed->service == *e.parsed->service))) {
      out.upserts.push_back(serviceNow(e));
    }
  }
  for (const auto& [id, at] : acceptedIds) {
    if (!ids->contains(id)) {
      out.removed.emplace_back(id);
    }
  }
  out.issues = restIssues;
  std::move(claims.issues.begin(), claims.issues.end(), std::back_inserter(out.issues));
  sortByPosition(out.issues);

  text = std::move(next);
  listTo = static_cast<size_t>(static_cast<ptrdiff_t>(listTo) + span->bytes);
  entries = std::move(now);
  accepted = std::move(claims.accepted);
  acceptedIds = std::move(*ids);
  issues = out.issues;
  return out;
}

ClusterFileState::ClusterFileState(std::string fileName) : state_(std::make_unique<State>()) {
  state_->file = std::move(fileName);
}
ClusterFileState::~ClusterFileState() = default;
ClusterFileState::ClusterFileState(ClusterFileState&&) noexcept = default;
ClusterFileState& ClusterFileState::operator=(ClusterFileState&&) noexcept = default;

ClusterLoad ClusterFileState::parseWhole(std::string text) {
  State& s = *state_;
  ClusterParts parts = parseClusterParts(text, s.file);
  s.text = std::move(text);
  s.usable = false;
  s.entries.clear();
  s.acceptedIds.clear();
  if (parts.split && !parts.load.fatal) {
    s.adopt(parts);
  }
  return std::move(parts.load);
}

std::optional<ClusterServiceChanges> ClusterFileState::update(std::string text) {
  State& s = *state_;
  if (!s.usable) {
    return std::nullopt;
  }
  if (text == s.text) {
    return ClusterServiceChanges{{}, {}, s.issues, 0};
  }
  try {
    return s.apply(std::move(text));  // changes nothing until it succeeds
  } catch (const YAML::Exception&) {
    return std::nullopt;  // the whole parse reports it
  }
}

bool ClusterFileState::same(const std::string& text) const {
  return text == state_->text;
}

void ClusterFileState::forget() {
  state_->text.clear();
  state_->usable = false;
  state_->entries.clear();
  state_->acceptedIds.clear();
}

ClusterLoad ClusterFileState::current() const {
  const State& s = *state_;
  if (!s.usable) {
    return parseCluster(s.text, s.file);
  }
  ClusterLoad out = s.rest;
  for (size_t i = 0; i < s.entries.size(); ++i) {
    if (s.accepted[i] != 0) {
      out.cluster.services.push_back(serviceNow(s.entries[i]));
    }
  }
  out.issues = s.issues;
  return out;
}

}  // namespace ovl
