// The scenario catalogue: each case is a function that builds one capture and
// its expected callvault output.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/gen/scenario.h"

namespace cv::gen {

struct CaseInfo {
  std::string name;
  std::string description;
  std::function<Scenario()> build;
};

const std::vector<CaseInfo>& all_cases();
// The calls of the sip_over_tcp case, over TCP or (the reference it must
// match) over UDP.
Scenario sip_over_tcp_calls(bool over_tcp);
// nullptr when no case has that name.
const CaseInfo* find_case(std::string_view name);

}  // namespace cv::gen
