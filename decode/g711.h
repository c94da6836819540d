// G.711 expansion by lookup table (ITU-T G.711; the tables are generated at
// compile time from the standard's segment formulas, not typed in).
#pragma once

#include <cstdint>

#include "common/bytes.h"

namespace cv {

int16_t ulaw_to_linear(uint8_t code);
int16_t alaw_to_linear(uint8_t code);
// Expands in.size() codes into `out` (which must hold in.size() samples).
void expand_ulaw(Bytes in, int16_t* out);
void expand_alaw(Bytes in, int16_t* out);

}  // namespace cv
