// The machine-readable summary of one recorded call (docs/RECORDING_FORMAT.md).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "capture/call/direction.h"
#include "decode/call_recorder.h"
#include "storage/index/index_record.h"

namespace cv {

std::string format_ssrc(uint32_t ssrc);  // "0x%08X", as tshark prints it

nlohmann::ordered_json call_summary_json(const CallRecording& rec, const std::string& uuid,
                                         const std::string& sensor, CallDirection direction);

// The same facts as the summary, as the index stores them.
IndexedCall indexed_call(const CallRecording& rec, const std::string& uuid, const std::string& sensor,
                         const std::string& session, CallDirection direction);

}  // namespace cv
