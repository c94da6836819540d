// callvault: passive SIP call recorder. One binary, one subcommand per job.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "app/config.h"
#include "app/replay.h"
#include "capture/call/direction.h"

int main(int argc, char** argv) {
  // Logs go to stderr so that stdout carries only results (JSON lines).
  spdlog::set_default_logger(spdlog::stderr_color_mt("callvault"));
  spdlog::set_pattern("%^%l%$: %v");

  CLI::App app{"callvault: passive SIP/RTP call recorder"};
  app.require_subcommand(1);
  std::string config_path;
  app.add_option("--config", config_path, "TOML configuration file (see deploy/callvault.toml)")
      ->check(CLI::ExistingFile);
  std::string sensor;
  std::vector<std::string> office_numbers;

  cv::ReplayOptions replay;
  auto* cmd = app.add_subcommand("replay", "Record the calls in capture files (pcap, pcapng)");
  cmd->add_option("files", replay.files, "Capture files, read in the order given as one capture")->required();
  cmd->add_option("--out", replay.out_dir, "Directory for the recordings (YYYY/MM/DD/<uuid>.wav)");
  cmd->add_flag("--json", replay.json, "Print one JSON object per call on stdout (JSON Lines)");
  cmd->add_flag("--no-db", replay.no_db, "Do not index the calls in PostgreSQL");
  cmd->add_option("--sensor", sensor, "Name of this recorder, part of every recording's uuid");
  cmd->add_option("--office-numbers", office_numbers,
                  "Office number patterns for call direction: 1234, 4822555*, 100-199")
      ->delimiter(',');

  CLI11_PARSE(app, argc, argv);

  cv::Config config;
  if (!config_path.empty()) {
    std::string error;
    auto loaded = cv::load_config(config_path, error);
    if (!loaded) {
      spdlog::error("configuration: {}", error);
      return 2;
    }
    config = *loaded;
  }
  if (!sensor.empty()) config.sensor = sensor;
  if (!office_numbers.empty()) {
    cv::DirectionClassifier probe;
    std::string error;
    for (const auto& p : office_numbers) {
      if (!probe.add_pattern(p, error)) {
        spdlog::error("--office-numbers: {}", error);
        return 2;
      }
    }
    config.office_numbers = office_numbers;
  }
  if (*cmd) return cv::run_replay(config, replay);
  return 0;
}
