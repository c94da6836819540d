// R3: classify a call as incoming, outgoing or internal from the office's
// own number ranges (configuration, never hard-coded).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cv {

enum class CallDirection : uint8_t { kUnknown, kIncoming, kOutgoing, kInternal };
const char* direction_name(CallDirection d);

class DirectionClassifier {
 public:
  // Patterns: "1234" (exact), "48225*" (prefix), "100-199" (inclusive numeric
  // range of equal-length numbers). Numbers are compared after dropping
  // everything but digits, so "+48 22 555" matches "4822555*". Returns false
  // and sets `error` naming the pattern when one is malformed.
  bool add_pattern(std::string_view pattern, std::string& error);
  [[nodiscard]] bool is_office_number(std::string_view user) const;
  [[nodiscard]] CallDirection classify(std::string_view caller, std::string_view callee) const;
  [[nodiscard]] bool empty() const { return rules_.empty(); }

 private:
  struct Rule {
    enum Kind { kExact, kPrefix, kRange } kind;
    std::string a, b;
  };
  std::vector<Rule> rules_;
};

std::string digits_only(std::string_view s);

}  // namespace cv
