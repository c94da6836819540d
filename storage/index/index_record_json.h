// JSON form of an index record, as the journal stores it (one object a line).
//
// Every field round-trips exactly. Strings come off the wire (Call-IDs, user
// parts) and may hold any bytes: valid UTF-8 is stored as a JSON string, any
// other string as {"b64": "<base64 of the bytes>"}, so that dumping never
// throws and reading gives back the same bytes. Non-finite doubles are stored
// as "nan", "inf" or "-inf" (JSON has no such numbers).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "storage/index/index_record.h"

namespace cv {

// An object with "type": "call" | "session" | "coverage", "v": 1 and one
// member per field of the record.
nlohmann::json to_json(const IndexRecord& record);

// Appends to_json(record).dump() and a newline, written directly (the same
// members and values; several times faster): the journal's line.
void append_json_line(std::string& out, const IndexRecord& record);

// The record `to_json` made, or nullopt with `error` naming the field that is
// missing or ill-typed ("streams[1].ssrc: expected an integer in 0..4294967295").
// Members it does not know are ignored.
std::optional<IndexRecord> index_record_from_json(const nlohmann::json& j, std::string& error);

}  // namespace cv
