// callvault-gen: writes generated captures with their expected callvault
// output, or large benchmark captures.
//
//   callvault-gen --list
//   callvault-gen --case NAME --out DIR      (NAME may be "all")
//   callvault-gen --bench-calls N --concurrent M --seconds S --out FILE
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <exception>

#include "tests/gen/bench.h"
#include "tests/gen/cases.h"

int main(int argc, char** argv) {
  CLI::App app{"callvault-gen: SIP/RTP captures with known expected recordings"};
  bool list = false;
  std::string case_name;
  std::string out;
  cv::gen::BenchOptions bench;
  bench.calls = 0;
  app.add_flag("--list", list, "list the cases");
  app.add_option("--case", case_name, "case to generate, or \"all\"");
  app.add_option("--out", out, "output directory (--case) or pcap file (--bench-calls)");
  app.add_option("--bench-calls", bench.calls, "benchmark: number of calls");
  app.add_option("--concurrent", bench.concurrent, "benchmark: calls in progress at once");
  app.add_option("--seconds", bench.seconds, "benchmark: audio seconds per call");
  app.add_option("--start-epoch", bench.start_epoch_s,
                 "benchmark: first call's start, seconds since 1970 UTC (default 2024-03-01 10:00)");
  CLI11_PARSE(app, argc, argv);

  try {
    if (list) {
      for (const auto& c : cv::gen::all_cases())
        std::printf("%-24s %s\n", c.name.c_str(), c.description.c_str());
      return 0;
    }
    if (bench.calls > 0) {
      if (out.empty()) throw std::runtime_error("--out FILE is required");
      bench.out = out;
      const auto start = std::chrono::steady_clock::now();
      const cv::gen::BenchStats s = cv::gen::write_bench(bench);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::fprintf(stderr, "%llu frames (%llu RTP, %llu SIP), %llu bytes in %.2f s\n",
                   static_cast<unsigned long long>(s.frames), static_cast<unsigned long long>(s.rtp_packets),
                   static_cast<unsigned long long>(s.sip_messages), static_cast<unsigned long long>(s.bytes),
                   secs);
      return 0;
    }
    if (case_name.empty() || out.empty()) {
      std::fprintf(stderr, "%s", app.help().c_str());
      return 2;
    }
    for (const auto& c : cv::gen::all_cases()) {
      if (case_name != "all" && c.name != case_name) continue;
      c.build().write(out);
      std::printf("%s/%s.pcap\n", out.c_str(), c.name.c_str());
      if (case_name != "all") return 0;
    }
    if (case_name != "all") {
      std::fprintf(stderr, "unknown case %s (see --list)\n", case_name.c_str());
      return 2;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "callvault-gen: %s\n", e.what());
    return 1;
  }
  return 0;
}
