// Configuration validation: every bad key is refused with a message naming it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "app/config.h"

namespace cv {
namespace {

std::string write_temp(const std::string& text) {
  char name[] = "/tmp/callvault-config-XXXXXX";
  int fd = mkstemp(name);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(name) << text;
  return name;
}

std::string error_for(const std::string& text) {
  std::string path = write_temp(text), error;
  auto c = load_config(path, error);
  std::remove(path.c_str());
  EXPECT_FALSE(c.has_value()) << text;
  return error;
}

TEST(Config, SampleConfigLoads) {
  std::string error;
  auto c = load_config(std::string(CV_SOURCE_DIR) + "/deploy/callvault.toml", error);
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->sensor, "town-office-1");
  EXPECT_EQ(c->office_numbers.size(), 2u);
  EXPECT_EQ(c->tracker.sip_ports, std::vector<uint16_t>{5060});
  EXPECT_EQ(c->tracker.dialog_timeout_ns, 300 * kNsPerSec);
}

TEST(Config, EveryBadKeyIsNamed) {
  struct Case {
    const char* text;
    const char* must_mention;
  } cases[] = {
      {"[recorder]\nsensr = \"x\"\n", "recorder.sensr"},
      {"[recorder]\nsensor = 5\n", "recorder.sensor"},
      {"[recorder]\nsensor = \"\"\n", "recorder.sensor"},
      {"[office]\nnumbers = \"100\"\n", "office.numbers"},
      {"[office]\nnumbers = [\"10-1000\"]\n", "10-1000"},
      {"[office]\nnumbers = [\"12ab\"]\n", "12ab"},
      {"[office]\nnumbers = [5]\n", "office.numbers"},
      {"[sip]\nports = []\n", "sip.ports"},
      {"[sip]\nports = [70000]\n", "sip.ports"},
      {"[sip]\nany_port = \"yes\"\n", "sip.any_port"},
      {"[sip]\ndialog_timeout_s = 1\n", "sip.dialog_timeout_s"},
      {"[sip]\ndialog_timeout_s = \"5\"\n", "sip.dialog_timeout_s"},
      {"[sip]\nlinger_s = -1\n", "sip.linger_s"},
      {"[sip]\nmax_calls = 0\n", "sip.max_calls"},
      {"[sip]\nmax_media_addresses = 0\n", "sip.max_media_addresses"},
      {"[audio]\nmix_window_ms = 5\n", "audio.mix_window_ms"},
      {"[audio]\nmax_streams_per_call = 1\n", "audio.max_streams_per_call"},
      {"[nonsense]\n", "nonsense"},
      {"[sip\n", ":1:"},  // syntax error: file:line:column
  };
  for (const auto& c : cases) {
    std::string e = error_for(c.text);
    EXPECT_NE(e.find(c.must_mention), std::string::npos) << "config:\n" << c.text << "error: " << e;
  }
}

TEST(Config, MissingFileIsAnError) {
  std::string error;
  EXPECT_FALSE(load_config("/nonexistent/callvault.toml", error));
  EXPECT_NE(error.find("/nonexistent/callvault.toml"), std::string::npos);
}

}  // namespace
}  // namespace cv
