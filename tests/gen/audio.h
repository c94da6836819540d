// Audio the generator sends: sine tones (a different frequency per side so the
// two channels can be told apart) and synthetic speech from espeak-ng + sox.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cv::gen {

using Signal = std::shared_ptr<const std::vector<int16_t>>;

// `seconds` of a sine at `freq_hz`, sampled at `rate`, peak `amplitude`.
Signal tone(double freq_hz, int rate, double seconds, double amplitude = 8000.0);

// Speech for `text` at `rate` (8000 or 16000), made by running
// `espeak-ng -w` then `sox` as subprocesses. Throws std::runtime_error naming
// the missing tool when either is not installed. Results are cached per
// (text, rate) for the process lifetime.
Signal speech(const std::string& text, int rate);

}  // namespace cv::gen
