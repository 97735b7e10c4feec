#include "model/yaml_tree.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "model/yaml_limits.h"

namespace ovl {

namespace {

bool isNullText(std::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

std::string_view anchorOf(const yaml_char_t* anchor) {
  return anchor == nullptr ? std::string_view{}
                           : std::string_view(reinterpret_cast<const char*>(anchor));
}

YamlMark markOf(const yaml_mark_t& m) {
  return YamlMark{static_cast<int>(m.line), static_cast<int>(m.column)};
}

}  // namespace

// ---- YamlNode ----

YamlNode::YamlNode(const YamlTree* tree, uint32_t index) : tree_(tree), index_(index) {
  if (tree_ != nullptr && tree_->item(index_).kind == YamlKind::kAlias) {
    index_ = tree_->item(index_).offset;  // aliases are resolved when they are built
  }
}

YamlKind YamlNode::kind() const {
  return tree_ == nullptr ? YamlKind::kNull : tree_->item(index_).kind;
}
bool YamlNode::isNull() const {
  return tree_ != nullptr && kind() == YamlKind::kNull;
}
bool YamlNode::isScalar() const {
  return tree_ != nullptr && kind() == YamlKind::kScalar;
}
bool YamlNode::isSequence() const {
  return tree_ != nullptr && kind() == YamlKind::kSequence;
}
bool YamlNode::isMap() const {
  return tree_ != nullptr && kind() == YamlKind::kMap;
}

std::string_view YamlNode::scalar() const {
  return isScalar() ? tree_->text(tree_->item(index_)) : std::string_view{};
}

YamlMark YamlNode::mark() const {
  if (tree_ == nullptr) {
    return {};
  }
  const YamlTree::Item& it = tree_->item(index_);
  return YamlMark{it.line, it.column};
}

size_t YamlNode::size() const {
  if (isSequence()) {
    return tree_->item(index_).count;
  }
  return isMap() ? tree_->item(index_).count / 2 : 0;
}

YamlNode YamlNode::operator[](std::string_view key) const {
  if (!isMap()) {
    return {};
  }
  for (uint32_t k = tree_->item(index_).first; k != YamlTree::kNone;) {
    const uint32_t v = tree_->item(k).next;
    const YamlNode keyNode(tree_, k);
    if (keyNode.isScalar() && keyNode.scalar() == key) {
      return YamlNode(tree_, v);
    }
    k = tree_->item(v).next;
  }
  return {};
}

YamlNode::Iterator YamlNode::begin() const {
  return Iterator(tree_, isSequence() ? tree_->item(index_).first : YamlTree::kNone);
}
YamlNode::Iterator YamlNode::end() const {
  return Iterator(tree_, YamlTree::kNone);
}

std::vector<YamlNode> YamlNode::items() const {
  std::vector<YamlNode> out;
  out.reserve(isSequence() ? size() : 0);
  for (const YamlNode& item : *this) {
    out.push_back(item);
  }
  return out;
}

std::vector<YamlPair> YamlNode::pairs() const {
  std::vector<YamlPair> out;
  if (!isMap()) {
    return out;
  }
  out.reserve(size());
  for (uint32_t k = tree_->item(index_).first; k != YamlTree::kNone;) {
    const uint32_t v = tree_->item(k).next;
    out.push_back(YamlPair{YamlNode(tree_, k), YamlNode(tree_, v)});
    k = tree_->item(v).next;
  }
  return out;
}

// ---- YamlTree ----

uint32_t YamlTree::add(YamlKind kind, YamlMark mark, std::string_view scalar) {
  if (items_.size() >= kNone - 1 || text_.size() + scalar.size() >= kNone) {
    throw std::length_error("YAML document too large");  // 4 GiB; files are at most 64 MiB
  }
  Item it;
  it.kind = kind;
  it.line = mark.line;
  it.column = mark.column;
  it.offset = static_cast<uint32_t>(text_.size());
  it.length = static_cast<uint32_t>(scalar.size());
  text_.append(scalar);
  items_.push_back(it);
  return static_cast<uint32_t>(items_.size() - 1);
}

void YamlTree::append(uint32_t parent, uint32_t child) {
  Item& p = items_[parent];
  if (p.last == kNone) {
    p.first = child;
  } else {
    items_[p.last].next = child;
  }
  p.last = child;
  ++p.count;
}

void YamlTree::reserve(size_t nodes, size_t textBytes) {
  items_.reserve(nodes);
  text_.reserve(textBytes);
}

void YamlTree::set(uint32_t map, std::string_view key, uint32_t value) {
  for (uint32_t k = items_[map].first; k != kNone;) {
    const uint32_t v = items_[k].next;
    if (items_[k].kind == YamlKind::kScalar && text(items_[k]) == key) {
      items_[value].next = items_[v].next;  // the value takes the old one's place
      items_[k].next = value;
      if (items_[map].last == v) {
        items_[map].last = value;
      }
      return;
    }
    k = items_[v].next;
  }
  append(map, add(YamlKind::kScalar, {}, key));
  append(map, value);
}

void YamlTree::remove(uint32_t map, std::string_view key) {
  Item& m = items_[map];
  uint32_t prev = kNone;  // the value before the pair looked at
  for (uint32_t k = m.first; k != kNone;) {
    const uint32_t v = items_[k].next;
    const uint32_t after = items_[v].next;
    if (items_[k].kind == YamlKind::kScalar && text(items_[k]) == key) {
      (prev == kNone ? m.first : items_[prev].next) = after;
      if (m.last == v) {
        m.last = prev;
      }
      m.count -= 2;
    } else {
      prev = v;
    }
    k = after;
  }
}

// ---- YamlEvents ----

YamlEvents::YamlEvents(std::string_view text) : text_(text) {
  if (yaml_parser_initialize(&parser_) == 0) {
    throw std::bad_alloc();
  }
  yaml_parser_set_input_string(&parser_, reinterpret_cast<const unsigned char*>(text.data()),
                               text.size());
}

YamlEvents::~YamlEvents() {
  if (hasEvent_) {
    yaml_event_delete(&event_);
  }
  yaml_parser_delete(&parser_);
}

const yaml_event_t* YamlEvents::next() {
  if (hasEvent_) {
    yaml_event_delete(&event_);
    hasEvent_ = false;
  }
  if (ended_ || yaml_parser_parse(&parser_, &event_) == 0) {
    return nullptr;
  }
  hasEvent_ = true;
  ended_ = event_.type == YAML_STREAM_END_EVENT;
  return &event_;
}

YamlMark YamlEvents::errorMark() const {
  // A reader error has an offset but no mark.
  const bool reader = parser_.error == YAML_READER_ERROR || parser_.error == YAML_MEMORY_ERROR;
  const yaml_mark_t& m = reader ? parser_.mark : parser_.problem_mark;
  if (m.index < text_.size()) {
    return markOf(m);
  }
  // At the end of a text without a final newline libyaml counts one more line; the end of the
  // last line is where the reader looks.
  const size_t lastLine = text_.rfind('\n');
  const size_t lines = static_cast<size_t>(std::count(text_.begin(), text_.end(), '\n'));
  const size_t column =
      lastLine == std::string_view::npos ? text_.size() : text_.size() - lastLine - 1;
  return YamlMark{static_cast<int>(lines), static_cast<int>(column)};
}

std::string YamlEvents::errorText() const {
  std::string out = parser_.problem != nullptr ? parser_.problem : "unreadable text";
  if (parser_.error == YAML_READER_ERROR && parser_.problem_value != -1) {
    out += fmt::format(" (#{:X})", parser_.problem_value);
  }
  if (parser_.context != nullptr) {
    out += fmt::format(" ({})", parser_.context);
  }
  return out;
}

// ---- building ----

namespace {

// Turns events into the tree, checking the limits as it goes.
class TreeBuilder {
 public:
  TreeBuilder(YamlTree& tree, YamlLimits& limits) : tree_(tree), limits_(limits) {}

  std::optional<YamlProblem> on(const yaml_event_t& e) {
    const YamlMark at = markOf(e.start_mark);
    switch (e.type) {
      case YAML_DOCUMENT_START_EVENT:
        return limits_.document(at);
      case YAML_DOCUMENT_END_EVENT:
        documentEnded_ = true;
        return std::nullopt;
      case YAML_SCALAR_EVENT:
        place(scalar(e, at), anchorOf(e.data.scalar.anchor), false);
        return std::nullopt;
      case YAML_ALIAS_EVENT:
        return alias(anchorOf(e.data.alias.anchor), at);
      case YAML_SEQUENCE_START_EVENT:
        return open(YamlKind::kSequence, at, anchorOf(e.data.sequence_start.anchor));
      case YAML_MAPPING_START_EVENT:
        return open(YamlKind::kMap, at, anchorOf(e.data.mapping_start.anchor));
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT:
        open_.pop_back();
        limits_.close();
        return std::nullopt;
      default:
        return std::nullopt;
    }
  }

  // After the document's end, libyaml requires "---" before more content; what it finds
  // instead is a second document all the same.
  bool documentEnded() const { return documentEnded_; }

 private:
  uint32_t scalar(const yaml_event_t& e, YamlMark at) {
    const std::string_view value(reinterpret_cast<const char*>(e.data.scalar.value),
                                 e.data.scalar.length);
    // As YAML's core schema: only an untagged plain scalar may be null.
    if (e.data.scalar.tag == nullptr && e.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        isNullText(value)) {
      return tree_.add(YamlKind::kNull, at);
    }
    return tree_.add(YamlKind::kScalar, at, value);
  }
  void place(uint32_t node, std::string_view anchor, bool container) {
    if (open_.empty()) {
      tree_.setRoot(node);
    } else {
      tree_.append(open_.back(), node);
    }
    if (!container) {
      limits_.leaf(anchor, node);
    }
  }
  std::optional<YamlProblem> open(YamlKind kind, YamlMark at, std::string_view anchor) {
    const uint32_t node = tree_.add(kind, at);
    if (auto p = limits_.open(at, anchor, node)) {
      return p;
    }
    place(node, anchor, true);
    open_.push_back(node);
    return std::nullopt;
  }
  std::optional<YamlProblem> alias(std::string_view anchor, YamlMark at) {
    uint32_t target = 0;
    if (auto p = limits_.alias(at, anchor, target)) {
      return p;
    }
    // A node of its own (it has its own place among its siblings) that stands for the target.
    const uint32_t node = tree_.add(YamlKind::kAlias, at);
    tree_.setAliasTarget(node, target);
    if (open_.empty()) {
      tree_.setRoot(node);
    } else {
      tree_.append(open_.back(), node);
    }
    return std::nullopt;
  }

  YamlTree& tree_;
  YamlLimits& limits_;
  std::vector<uint32_t> open_;
  bool documentEnded_ = false;
};

}  // namespace

YamlBuild buildYamlTree(std::string_view text, size_t maxDepth, size_t budgetBytes) {
  YamlBuild out;
  auto tree = std::make_shared<YamlTree>();
  // About one node per 8 bytes and half the text in scalars, as in a cluster file.
  tree->reserve(text.size() / 8 + 4, text.size() / 2 + 16);
  YamlLimits limits(budgetBytes == 0 ? text.size() : budgetBytes,
                    maxDepth == 0 ? kMaxFileDepth : maxDepth);
  TreeBuilder builder(*tree, limits);
  YamlEvents events(text);
  while (const yaml_event_t* e = events.next()) {
    if (auto problem = builder.on(*e)) {
      out.problem = std::move(problem);
      return out;
    }
  }
  if (events.failed()) {
    if (builder.documentEnded()) {
      out.problem = limits.document(events.errorMark());
    }
    if (!out.problem) {
      out.problem = YamlProblem{events.errorMark(), "invalid YAML: " + events.errorText()};
    }
    return out;
  }
  if (tree->rootIndex() == YamlTree::kNone) {
    tree->setRoot(tree->add(YamlKind::kNull, {}));  // an empty text
  }
  out.tree = std::move(tree);
  return out;
}

// ---- emitting ----

namespace {

int appendOutput(void* data, unsigned char* buffer, size_t size) {
  static_cast<std::string*>(data)->append(reinterpret_cast<const char*>(buffer), size);
  return 1;
}

class Emitter {
 public:
  explicit Emitter(std::string& out) {
    if (yaml_emitter_initialize(&emitter_) == 0) {
      throw std::bad_alloc();
    }
    yaml_emitter_set_output(&emitter_, appendOutput, &out);
    yaml_emitter_set_unicode(&emitter_, 1);
    yaml_emitter_set_width(&emitter_, -1);
  }
  ~Emitter() { yaml_emitter_delete(&emitter_); }
  Emitter(const Emitter&) = delete;
  Emitter& operator=(const Emitter&) = delete;

  void emit(yaml_event_t& e) {
    if (yaml_emitter_emit(&emitter_, &e) == 0) {
      throw std::runtime_error(emitter_.problem != nullptr ? emitter_.problem
                                                           : "cannot write YAML");
    }
  }
  void scalar(std::string_view text, yaml_scalar_style_t style) {
    yaml_event_t e;
    auto* value = reinterpret_cast<yaml_char_t*>(const_cast<char*>(text.data()));
    yaml_scalar_event_initialize(&e, nullptr, nullptr, value, static_cast<int>(text.size()), 1, 1,
                                 style);
    emit(e);
  }
  void node(const YamlNode& n) {
    yaml_event_t e;
    switch (n.kind()) {
      case YamlKind::kScalar:
        // A string that would read back as null is quoted; libyaml quotes what needs it.
        scalar(n.scalar(),
               isNullText(n.scalar()) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE);
        return;
      case YamlKind::kSequence:
        yaml_sequence_start_event_initialize(&e, nullptr, nullptr, 1, YAML_BLOCK_SEQUENCE_STYLE);
        emit(e);
        for (const YamlNode& item : n) {
          node(item);
        }
        yaml_sequence_end_event_initialize(&e);
        emit(e);
        return;
      case YamlKind::kMap:
        yaml_mapping_start_event_initialize(&e, nullptr, nullptr, 1, YAML_BLOCK_MAPPING_STYLE);
        emit(e);
        for (const YamlPair& p : n.pairs()) {
          node(p.first);
          node(p.second);
        }
        yaml_mapping_end_event_initialize(&e);
        emit(e);
        return;
      default:
        scalar("~", YAML_PLAIN_SCALAR_STYLE);
        return;
    }
  }

 private:
  yaml_emitter_t emitter_;
};

}  // namespace

std::string emitYaml(const YamlNode& node) {
  std::string out;
  Emitter emitter(out);
  yaml_event_t e;
  yaml_stream_start_event_initialize(&e, YAML_UTF8_ENCODING);
  emitter.emit(e);
  yaml_document_start_event_initialize(&e, nullptr, nullptr, nullptr, 1);
  emitter.emit(e);
  emitter.node(node);
  yaml_document_end_event_initialize(&e, 1);
  emitter.emit(e);
  yaml_stream_end_event_initialize(&e);
  emitter.emit(e);
  return out;
}

}  // namespace ovl
