#include "common/json_bounds.h"

#include <nlohmann/json.hpp>

namespace ovl {

namespace {

using nlohmann::json;

// A SAX handler that only counts levels: nlohmann's sax_parse keeps its own state on the heap
// (no recursion), and a handler returning false stops it at once.
class DepthCounter {
 public:
  explicit DepthCounter(size_t maxDepth, JsonDepthCheck* out) : max_(maxDepth), out_(out) {}

  bool null() { return scalar(); }
  bool boolean(bool) { return scalar(); }
  bool number_integer(json::number_integer_t) { return scalar(); }
  bool number_unsigned(json::number_unsigned_t) { return scalar(); }
  bool number_float(json::number_float_t, const json::string_t&) { return scalar(); }
  bool string(json::string_t& s) {
    if (depth_ == 1 && inTopObject_ && s.size() <= 64) {
      out_->topStrings[key_] = s;
    }
    return true;
  }
  bool binary(json::binary_t&) { return scalar(); }
  bool key(json::string_t& k) {
    if (depth_ == 1) {
      key_ = k.size() <= 64 ? k : k.substr(0, 64) + "...";
    }
    return true;
  }
  bool start_object(size_t) { return open(true); }
  bool end_object() { return close(); }
  bool start_array(size_t) { return open(false); }
  bool end_array() { return close(); }
  bool parse_error(size_t, const std::string&, const nlohmann::detail::exception&) {
    out_->malformed = true;
    return false;
  }

 private:
  static bool scalar() { return true; }
  bool open(bool object) {
    if (depth_ == 0) {
      inTopObject_ = object;
    }
    if (++depth_ > max_) {
      out_->exceeded = true;
      out_->member = inTopObject_ ? key_ : "";
      return false;
    }
    return true;
  }
  bool close() {
    --depth_;
    return true;
  }

  size_t max_;
  JsonDepthCheck* out_;
  size_t depth_ = 0;
  bool inTopObject_ = false;
  std::string key_;
};

}  // namespace

JsonDepthCheck checkJsonDepth(std::string_view text, size_t maxDepth) {
  JsonDepthCheck out;
  DepthCounter counter(maxDepth, &out);
  json::sax_parse(text, &counter);
  return out;
}

}  // namespace ovl
