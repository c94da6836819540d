// The SQL migrations shipped in storage/migrations, compiled into the binary.
#pragma once

#include <span>
#include <string_view>

namespace cv {

struct Migration {
  int version;            // from the file name: 0001_index.sql is version 1
  std::string_view name;  // the file name without ".sql"
  std::string_view sql;   // applied in one transaction
};

// In version order, without gaps.
std::span<const Migration> shipped_migrations();

inline int latest_schema_version() {
  auto m = shipped_migrations();
  return m.empty() ? 0 : m.back().version;
}

}  // namespace cv
