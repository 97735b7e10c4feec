#include "model/cluster_increment.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "model/cluster_parts.h"

namespace ovl {

namespace {

// One entry of the services list, at one address while it lives (the claims point to it): its
// reading, where it is now and where it was read (its marks count from that line, its fields
// name that index), and what it adds to the file's result.
struct Slot {
  std::shared_ptr<const ParsedService> parsed;
  size_t start = 0;        // byte offset of its first line in the text
  size_t line = 0;         // its first line (0-based)
  size_t parsedLine = 0;   // the first line it was read at
  size_t index = 0;        // its index in the list now
  size_t parsedIndex = 0;  // the index it was read at
  bool accepted = false;
  std::vector<ConfigIssue> issues;  // its own and its lost claims, as the file lists them
  bool retired = false;             // replaced by a new reading (scratch of one update)
  bool queued = false;              // to be checked again (scratch of one update)

  int shift() const { return static_cast<int>(line) - static_cast<int>(parsedLine); }
  bool moved() const { return line != parsedLine || index != parsedIndex; }
};
using Slots = std::vector<std::unique_ptr<Slot>>;

// A claim's field names the index the entry was read at ("services[7].clusterIP").
std::string fieldNow(const std::string& field, const Slot& e) {
  if (e.index == e.parsedIndex) {
    return field;
  }
  const std::string was = fmt::format("services[{}]", e.parsedIndex);
  if (field.rfind(was, 0) != 0) {
    return field;
  }
  return fmt::format("services[{}]", e.index) + field.substr(was.size());
}

ConfigIssue lostTo(const ServiceClaim& c, const Slot& claimer, const Slot& holder) {
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

// Who claims each value (ServiceClaim), in every entry of the list: the first by position holds
// it, as when ServiceClaims checks them in file order. Kept across updates, so that a change
// checks again only the entries that claim what the changed entries claim(ed).
class ClaimIndex {
 public:
  // Adds (removes) the slot's claims; the other claimers of those values go to `touched`.
  void add(Slot* s, std::vector<Slot*>& touched) {
    for (const ServiceClaim& c : s->parsed->claims) {
      std::vector<Slot*>& list = space(c)[c.key];
      touched.insert(touched.end(), list.begin(), list.end());
      list.push_back(s);
    }
  }
  void remove(Slot* s, std::vector<Slot*>& touched) {
    for (const ServiceClaim& c : s->parsed->claims) {
      auto it = space(c).find(c.key);
      if (it == space(c).end()) {
        continue;
      }
      std::erase(it->second, s);
      touched.insert(touched.end(), it->second.begin(), it->second.end());
      if (it->second.empty()) {
        space(c).erase(it);
      }
    }
  }
  // The slot's share of the file's result from its claims and its own issues.
  void check(Slot& s) const {
    const ParsedService& p = *s.parsed;
    s.issues = p.issues;
    std::vector<const ServiceClaim*> held;  // a value it claims twice: it loses it to itself
    for (const ServiceClaim& c : p.claims) {
      const Slot* holder = holderOf(c);
      if (holder != &s) {
        s.issues.push_back(lostTo(c, s, *holder));
        continue;
      }
      const bool again = std::any_of(held.begin(), held.end(), [&](const ServiceClaim* h) {
        return h->space == c.space && h->key == c.key;
      });
      if (again) {
        s.issues.push_back(lostTo(c, s, s));
      }
      held.push_back(&c);
    }
    s.accepted = s.issues.empty() && p.service && p.id;
    if (!s.issues.empty()) {
      annotateRejected(p, s.issues);
    }
  }

 private:
  using Space = std::unordered_map<std::string, std::vector<Slot*>>;
  Space& space(const ServiceClaim& c) { return spaces_[static_cast<size_t>(c.space)]; }
  const Slot* holderOf(const ServiceClaim& c) const {
    const std::vector<Slot*>& list = spaces_[static_cast<size_t>(c.space)].at(c.key);
    return *std::min_element(list.begin(), list.end(),
                             [](const Slot* a, const Slot* b) { return a->index < b->index; });
  }

  Space spaces_[3];
};

svc::Service serviceNow(const Slot& s) {
  svc::Service out = *s.parsed->service;
  out.mark.line += s.shift();
  return out;
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
  Slots slots;
  ClaimIndex claims;
  std::unordered_map<std::string_view, Slot*> acceptedById;  // views into the slots' ids
  // The slots with issues, so that a change visits these (usually few) and not every entry.
  std::unordered_set<Slot*> withIssues;
  size_t listFrom = 0;  // bytes of the services list in the text
  size_t listTo = 0;
  size_t dashColumn = 0;

  // The bytes and entries a change touches, in the last text and in the next.
  struct Span {
    size_t first = 0;  // the first entry touched
    size_t last = 0;   // the last entry touched
    size_t from = 0;   // where the first touched entry starts (both texts)
    size_t to = 0;     // where the entries after the last touched one start, in the next text
    ptrdiff_t bytes = 0;
    ptrdiff_t lines = 0;
  };
  // What one update replaces: the slots of the span and the moved slots read again, and their
  // new readings; and what was accepted before among the slots it checks again.
  struct Swap {
    std::vector<std::pair<size_t, std::unique_ptr<Slot>>> reread;  // old index, new slot
    Slots region;
    std::unordered_map<std::string, std::shared_ptr<const ParsedService>> wasAccepted;
    std::vector<Slot*> added;  // the new readings, in their places
    std::vector<Slot*> touched;
    Slots retired;
  };

  void adopt(ClusterParts& parts);
  bool matches(const ClusterLoad& whole) const;
  std::optional<ClusterServiceChanges> apply(std::string& next);
  std::optional<Span> findSpan(const std::string& next, size_t p) const;
  std::optional<Slots> readSpan(const std::string& next, const Span& span) const;
  void rereadMoved(const std::string& next, const Span& span, Swap& swap) const;
  std::unique_ptr<Slot> readEntry(const std::string& next, size_t from, size_t to, size_t line,
                                  size_t index) const;
  void retire(std::unique_ptr<Slot>& s, Swap& swap);
  void check(Slot& s);
  std::vector<Slot*> issuesFrom(size_t index) const;
  void placeSlots(const Span& span, Swap& swap);
  ClusterServiceChanges checkAgain(const Span& span, Swap& swap);
  std::vector<ConfigIssue> allIssues() const;
};

void ClusterFileState::State::adopt(ClusterParts& parts) {
  const ServiceLines& split = *parts.split;
  const std::vector<std::string_view> lines = splitLines(text);
  auto offset = [&](size_t line) {
    return line < lines.size() ? static_cast<size_t>(lines[line].data() - text.data())
                               : text.size();
  };
  std::vector<Slot*> touched;  // every slot is checked below
  for (size_t i = 0; i < split.itemStart.size() && i < parts.entries.size(); ++i) {
    const size_t line = split.itemStart[i];
    auto slot = std::make_unique<Slot>();
    slot->parsed = std::move(parts.entries[i]);
    slot->start = offset(line);
    slot->line = slot->parsedLine = line;
    slot->index = slot->parsedIndex = i;
    claims.add(slot.get(), touched);
    slots.push_back(std::move(slot));
  }
  for (auto& s : slots) {
    check(*s);
    if (s->accepted) {
      acceptedById.emplace(*s->parsed->id, s.get());
    }
  }
  listFrom = offset(split.itemStart.front());
  listTo = offset(split.end);
  dashColumn = lines[split.itemStart.front()].find_first_not_of(' ');
  rest.cluster.network = parts.load.cluster.network;
  rest.cluster.nodes = parts.load.cluster.nodes;
  rest.fatal = parts.load.fatal;
  restIssues = std::move(parts.restIssues);
  facts = parts.facts;
  // The claims checked here must give what the whole parse gave, or nothing is sure.
  usable = slots.size() == split.itemStart.size() && matches(parts.load);
}

bool ClusterFileState::State::matches(const ClusterLoad& whole) const {
  const std::vector<ConfigIssue> issues = allIssues();
  if (acceptedById.size() != whole.cluster.services.size() ||
      issues.size() != whole.issues.size()) {
    return false;
  }
  for (size_t i = 0; i < issues.size(); ++i) {
    if (issues[i].toString() != whole.issues[i].toString()) {
      return false;
    }
  }
  return true;
}

// In file order: each slot's issues lie on its own lines, so the order in which the slots are
// visited changes nothing once the list is sorted (stably, as the whole parse sorts it).
std::vector<ConfigIssue> ClusterFileState::State::allIssues() const {
  std::vector<ConfigIssue> out = restIssues;
  for (const Slot* s : issuesFrom(0)) {
    out.insert(out.end(), s->issues.begin(), s->issues.end());
  }
  sortByPosition(out);
  return out;
}

// The slots with issues from `index` on, in list order.
std::vector<Slot*> ClusterFileState::State::issuesFrom(size_t index) const {
  std::vector<Slot*> out;
  for (Slot* s : withIssues) {
    if (s->index >= index) {
      out.push_back(s);
    }
  }
  std::sort(out.begin(), out.end(),
            [](const Slot* a, const Slot* b) { return a->index < b->index; });
  return out;
}

void ClusterFileState::State::check(Slot& s) {
  claims.check(s);
  if (s.issues.empty()) {
    withIssues.erase(&s);
  } else {
    withIssues.insert(&s);
  }
}

std::optional<ClusterFileState::State::Span> ClusterFileState::State::findSpan(
    const std::string& next, size_t p) const {
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
    auto it =
        std::upper_bound(slots.begin(), slots.end(), at,
                         [](size_t off, const std::unique_ptr<Slot>& e) { return off < e->start; });
    return static_cast<size_t>(it - slots.begin()) - 1;
  };
  span.first = holding(p > listFrom ? p - 1 : p);
  span.last = std::max(span.first, holding(oldEnd));
  span.from = slots[span.first]->start;
  const size_t oldTo = span.last + 1 < slots.size() ? slots[span.last + 1]->start : listTo;
  span.to = static_cast<size_t>(static_cast<ptrdiff_t>(oldTo) + span.bytes);
  if (span.from == 0 || span.to <= span.from || next[span.from - 1] != '\n' ||
      (span.to != next.size() && next[span.to - 1] != '\n')) {
    return std::nullopt;
  }
  return span;
}

std::unique_ptr<Slot> ClusterFileState::State::readEntry(const std::string& next, size_t from,
                                                         size_t to, size_t line,
                                                         size_t index) const {
  auto slot = std::make_unique<Slot>();
  slot->parsed = std::make_shared<const ParsedService>(
      parseServiceEntry(file, next.substr(from, to - from), line, index, facts));
  slot->start = from;
  slot->line = slot->parsedLine = line;
  slot->index = slot->parsedIndex = index;
  return slot;
}

// The entries of the span in the next text, each read on its own, when a scan of the span alone
// finds entries as a scan of the whole next text would: from its first line to its end, at the
// list's column, with no anchors, aliases or document markers. nullopt otherwise.
std::optional<Slots> ClusterFileState::State::readSpan(const std::string& next,
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
  Slots out;
  out.reserve(scan->itemStart.size());
  const size_t firstLine = slots[span.first]->line;
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

// The entries after the span move with the change: they keep their reading unless it has
// issues of its own (whose messages may quote its position or index); those are read again.
void ClusterFileState::State::rereadMoved(const std::string& next, const Span& span,
                                          Swap& swap) const {
  auto moved = [&](size_t at) {
    return static_cast<size_t>(static_cast<ptrdiff_t>(at) + span.bytes);
  };
  const ptrdiff_t indexShift = static_cast<ptrdiff_t>(swap.region.size()) -
                               static_cast<ptrdiff_t>(span.last - span.first + 1);
  for (const Slot* found : issuesFrom(span.last + 1)) {
    const Slot& s = *found;
    const size_t i = s.index;
    const size_t index = static_cast<size_t>(static_cast<ptrdiff_t>(i) + indexShift);
    const size_t line = static_cast<size_t>(static_cast<ptrdiff_t>(s.line) + span.lines);
    if (s.parsed->issues.empty() || (line == s.parsedLine && index == s.parsedIndex)) {
      continue;
    }
    const size_t to = i + 1 < slots.size() ? moved(slots[i + 1]->start) : moved(listTo);
    swap.reread.emplace_back(i, readEntry(next, moved(s.start), to, line, index));
  }
}

// A slot replaced: what it held is no longer held, and what it was accepted as is remembered.
void ClusterFileState::State::retire(std::unique_ptr<Slot>& s, Swap& swap) {
  if (s->accepted) {
    swap.wasAccepted.try_emplace(*s->parsed->id, s->parsed);
    acceptedById.erase(*s->parsed->id);
  }
  claims.remove(s.get(), swap.touched);
  withIssues.erase(s.get());
  s->retired = true;
  swap.retired.push_back(std::move(s));
}

// The slots in their new order and places: the span's new readings, the ones after it moved.
void ClusterFileState::State::placeSlots(const Span& span, Swap& swap) {
  Slots now;
  now.reserve(slots.size() + swap.region.size());
  for (size_t i = 0; i < span.first; ++i) {
    now.push_back(std::move(slots[i]));
  }
  for (auto& s : swap.region) {
    swap.added.push_back(s.get());
    now.push_back(std::move(s));
  }
  auto reread = swap.reread.begin();
  for (size_t i = span.last + 1; i < slots.size(); ++i) {
    if (reread != swap.reread.end() && reread->first == i) {
      swap.added.push_back(reread->second.get());
      now.push_back(std::move(reread->second));
      ++reread;
      continue;
    }
    Slot& s = *slots[i];
    s.start = static_cast<size_t>(static_cast<ptrdiff_t>(s.start) + span.bytes);
    s.line = static_cast<size_t>(static_cast<ptrdiff_t>(s.line) + span.lines);
    s.index = now.size();
    now.push_back(std::move(slots[i]));
  }
  slots = std::move(now);
}

// The new readings' claims added, then every slot whose result may differ checked again: the
// new ones, those that claim what a retired or new one claims, and (when entries moved) those
// after the span with issues, whose messages quote positions. Then what the agent is told.
ClusterServiceChanges ClusterFileState::State::checkAgain(const Span& span, Swap& swap) {
  for (Slot* s : swap.added) {
    claims.add(s, swap.touched);
  }
  swap.touched.insert(swap.touched.end(), swap.added.begin(), swap.added.end());
  if (span.lines != 0 || swap.region.size() != span.last - span.first + 1) {
    const std::vector<Slot*> after = issuesFrom(span.first);
    swap.touched.insert(swap.touched.end(), after.begin(), after.end());
  }
  std::vector<Slot*> queue;
  for (Slot* s : swap.touched) {
    if (!s->retired && !s->queued) {
      s->queued = true;
      queue.push_back(s);
    }
  }
  // What they were accepted as, before any is checked (one id may move between two of them).
  for (Slot* s : queue) {
    if (s->accepted) {
      swap.wasAccepted.try_emplace(*s->parsed->id, s->parsed);
      acceptedById.erase(*s->parsed->id);
    }
  }
  ClusterServiceChanges out;
  for (Slot* s : queue) {
    s->queued = false;
    check(*s);
    if (!s->accepted) {
      continue;
    }
    acceptedById[*s->parsed->id] = s;
    auto was = swap.wasAccepted.find(*s->parsed->id);
    if (was == swap.wasAccepted.end() ||
        (was->second != s->parsed && !(*was->second->service == *s->parsed->service))) {
      out.upserts.push_back(serviceNow(*s));
    }
  }
  for (const auto& [id, parsed] : swap.wasAccepted) {
    if (!acceptedById.contains(id)) {
      out.removed.push_back(id);
    }
  }
  return out;
}

std::optional<ClusterServiceChanges> ClusterFileState::State::apply(std::string& next) {
  const size_t prefix = commonPrefix(text, next);  // one pass over the common part
  if (next.size() == text.size() && prefix == text.size()) {
    ClusterServiceChanges same;
    same.sameText = true;
    same.issues = allIssues();
    return same;
  }
  const std::optional<Span> span = findSpan(next, prefix);
  if (!span) {
    return std::nullopt;
  }
  std::optional<Slots> region = readSpan(next, *span);
  if (!region) {
    return std::nullopt;
  }
  Swap swap;
  swap.region = std::move(*region);
  rereadMoved(next, *span, swap);
  // Nothing below fails: the state changes from here on.
  const size_t reparsed = swap.region.size() + swap.reread.size();
  for (size_t i = span->first; i <= span->last; ++i) {
    retire(slots[i], swap);
  }
  for (auto& [i, slot] : swap.reread) {
    retire(slots[i], swap);
  }
  placeSlots(*span, swap);
  ClusterServiceChanges out = checkAgain(*span, swap);
  out.reparsed = reparsed;
  out.issues = allIssues();
  text.swap(next);
  listTo = static_cast<size_t>(static_cast<ptrdiff_t>(listTo) + span->bytes);
  return out;
}

ClusterFileState::ClusterFileState(std::string fileName) : state_(std::make_unique<State>()) {
  state_->file = std::move(fileName);
}
ClusterFileState::~ClusterFileState() = default;
ClusterFileState::ClusterFileState(ClusterFileState&&) noexcept = default;
ClusterFileState& ClusterFileState::operator=(ClusterFileState&&) noexcept = default;

ClusterLoad ClusterFileState::parseWhole(std::string text) {
  ClusterParts parts = parseClusterParts(text, state_->file);
  forget();
  State& s = *state_;
  s.text = std::move(text);
  if (parts.split && !parts.load.fatal) {
    s.adopt(parts);
  }
  return std::move(parts.load);
}

std::optional<ClusterServiceChanges> ClusterFileState::update(std::string& text) {
  State& s = *state_;
  if (!s.usable) {
    return std::nullopt;
  }
  return s.apply(text);  // changes nothing until it cannot fail
}

bool ClusterFileState::same(const std::string& text) const {
  return text == state_->text;
}

void ClusterFileState::forget() {
  State& s = *state_;
  s.text.clear();
  s.usable = false;
  s.acceptedById.clear();
  s.claims = ClaimIndex();
  s.withIssues.clear();
  s.slots.clear();
}

ClusterLoad ClusterFileState::current() const {
  const State& s = *state_;
  if (!s.usable) {
    return parseCluster(s.text, s.file);
  }
  ClusterLoad out = s.rest;
  for (const auto& slot : s.slots) {
    if (slot->accepted) {
      out.cluster.services.push_back(serviceNow(*slot));
    }
  }
  out.issues = s.allIssues();
  return out;
}

}  // namespace ovl
