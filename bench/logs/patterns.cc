// bench_logs_patterns: template-mining accuracy on Loghub's eight 2k sets with ONE global
// setting, scored by shared/tools/loghub-eval.py (grouping accuracy GA, FGA). Prints the
// per-set table, the mean, and the reference figure it is measured against: Drain tuned per
// set, 0.928 mean GA on these sets (logparser's benchmark; Drain is not a Debian package, so
// the figure is quoted, not re-measured).
//   bench_logs_patterns [--data DIR] [--eval SCRIPT] [--min-values N] [--out DIR]
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "logs/patterns/offline.h"

int main(int argc, char** argv) {
  std::string source = std::getenv("BERTH_SOURCE_DIR") ? std::getenv("BERTH_SOURCE_DIR") : ".";
  std::string data = source + "/../shared/data/loghub2k";
  std::string eval = source + "/../shared/tools/loghub-eval.py";
  std::string out = "/tmp/berth-patterns-pred";
  berth::logs::patterns::MinerOptions options;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--data")
      data = argv[i + 1];
    else if (a == "--eval")
      eval = argv[i + 1];
    else if (a == "--out")
      out = argv[i + 1];
    else if (a == "--min-values")
      options.min_values = std::stoul(argv[i + 1]);
    else {
      std::cerr << "unknown flag " << a << "\n";
      return 2;
    }
  }
  ::mkdir(out.c_str(), 0755);
  const std::vector<std::string> sets = {"BGL",     "HDFS",  "HPC",         "Hadoop",
                                         "OpenSSH", "Spark", "Thunderbird", "Zookeeper"};
  size_t lines = 0;
  auto start = std::chrono::steady_clock::now();
  for (const auto& s : sets) {
    std::ifstream in(data + "/" + s + "/" + s + "_2k.log", std::ios::binary);
    if (!in) {
      std::cerr << "cannot read " << data << "/" << s << "/" << s << "_2k.log\n";
      return 1;
    }
    std::ofstream csv(out + "/" + s + ".csv");
    lines += berth::logs::patterns::MineToCsv(in, csv, options);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("setting min_values=%zu (one setting for all sets)\n", options.min_values);
  std::fflush(stdout);
  std::string cmd = "python3 " + eval + " --dir " + data + " --pred-dir " + out;
  int rc = std::system(cmd.c_str());
  std::printf("patterns_reference_drain_tuned_per_set_mean_ga 0.928 ratio\n");
  std::printf("patterns_mining_lines_per_second %.0f lines/s (%zu lines)\n",
              static_cast<double>(lines) / secs, lines);
  return rc == 0 ? 0 : 1;
}
