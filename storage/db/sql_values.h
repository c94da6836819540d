// Values passed to and read from PostgreSQL where libpqxx 6.4 has no direct
// conversion: array parameters (it cannot bind a std::vector, so arrays go as
// their text literal with a cast in the SQL, `= ANY($1::uuid[])`) and
// nullable text columns.
#pragma once

#include <optional>
#include <pqxx/field>
#include <string>
#include <vector>

namespace cv {

// "{a,b,c}" for a uuid[] (or bigint[]) parameter. The elements need no
// quoting: the callers pass values checked as uuids or read from the database.
inline std::string sql_plain_array(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += values[i];
  }
  return out + "}";
}

// "{"a","b"}" for a text[] parameter, every element quoted and escaped.
inline std::string sql_text_array(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    out += i ? ",\"" : "\"";
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

inline std::optional<std::string> opt_text(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<std::string>();
}

}  // namespace cv
