#include "capture/call/direction.h"

#include <algorithm>
#include <cctype>

namespace cv {

const char* direction_name(CallDirection d) {
  switch (d) {
    case CallDirection::kIncoming:
      return "incoming";
    case CallDirection::kOutgoing:
      return "outgoing";
    case CallDirection::kInternal:
      return "internal";
    case CallDirection::kUnknown:
      break;
  }
  return "unknown";
}

std::string digits_only(std::string_view s) {
  std::string out;
  for (char c : s)
    if (std::isdigit(static_cast<unsigned char>(c))) out.push_back(c);
  return out;
}

bool DirectionClassifier::add_pattern(std::string_view pattern, std::string& error) {
  auto all_digits = [](std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  std::string p;
  for (char c : pattern)
    if (!std::isspace(static_cast<unsigned char>(c)) && c != '+') p.push_back(c);
  if (size_t dash = p.find('-'); dash != std::string::npos) {
    std::string a = p.substr(0, dash), b = p.substr(dash + 1);
    if (!all_digits(a) || !all_digits(b) || a.size() != b.size() || a > b) {
      error = "number range '" + std::string(pattern) +
              "' must be two numbers of equal length, low-high (e.g. 100-199)";
      return false;
    }
    rules_.push_back({Rule::kRange, a, b});
    return true;
  }
  if (!p.empty() && p.back() == '*') {
    p.pop_back();
    if (!all_digits(p)) {
      error = "number prefix '" + std::string(pattern) + "' must be digits followed by * (e.g. 4822555*)";
      return false;
    }
    rules_.push_back({Rule::kPrefix, p, {}});
    return true;
  }
  if (!all_digits(p)) {
    error = "office number '" + std::string(pattern) +
            "' must be digits, a prefix ending in *, or a range low-high";
    return false;
  }
  rules_.push_back({Rule::kExact, p, {}});
  return true;
}

bool DirectionClassifier::is_office_number(std::string_view user) const {
  const std::string n = digits_only(user);
  if (n.empty()) return false;
  for (const Rule& r : rules_) {
    switch (r.kind) {
      case Rule::kExact:
        if (n == r.a) return true;
        break;
      case Rule::kPrefix:
        if (n.compare(0, r.a.size(), r.a) == 0) return true;
        break;
      case Rule::kRange:
        if (n.size() == r.a.size() && n >= r.a && n <= r.b) return true;
        break;
    }
  }
  return false;
}

CallDirection DirectionClassifier::classify(std::string_view caller, std::string_view callee) const {
  const bool from_office = is_office_number(caller), to_office = is_office_number(callee);
  if (from_office && to_office) return CallDirection::kInternal;
  if (from_office) return CallDirection::kOutgoing;
  if (to_office) return CallDirection::kIncoming;
  return CallDirection::kUnknown;
}

}  // namespace cv
