#include "common/anomaly.h"

namespace cv {
namespace {
constexpr std::string_view kNames[] = {
#define CV_ANOMALY_NAME(id, name, text) name,
    CV_ANOMALIES(CV_ANOMALY_NAME)
#undef CV_ANOMALY_NAME
};
constexpr std::string_view kTexts[] = {
#define CV_ANOMALY_TEXT(id, name, text) text,
    CV_ANOMALIES(CV_ANOMALY_TEXT)
#undef CV_ANOMALY_TEXT
};
}  // namespace

std::string_view anomaly_name(Anomaly a) {
  auto i = static_cast<size_t>(a);
  return i < kAnomalyCount ? kNames[i] : "unknown";
}
std::string_view anomaly_description(Anomaly a) {
  auto i = static_cast<size_t>(a);
  return i < kAnomalyCount ? kTexts[i] : "unknown";
}
}  // namespace cv
