// Error rate per service, and spikes against the service's own baseline. A line is an error
// when its level (a `level`/`severity`/`lvl` field the pipeline extracted, or `level=error`,
// `"level":"error"` in the line, or a leading ERROR/FATAL word) is error, fatal, critical or
// panic, when it is an access record with status >= 500, or when it holds a stack trace.
// Lines are counted per service (the stream's `service` label, else `app`) in equal slices of
// the range. Spike rule, per slice k after the first kBaselineSlices: with E errors in L lines
// over slices 0..k-1, the baseline rate's upper bound is p = (E + 2 sqrt(E + 1) + 1) / L;
// expected e = p * lines_k; slice k spikes when its errors are at least kMinSpikeErrors and
// exceed e + 4 sqrt(e + 1) (a one-sided Poisson bound over an upper-bounded baseline; the
// false-alarm rate on stationary traffic is measured in error_rates_test.cc).
// Thread-safety: ErrorRates is not thread-safe (one per analysis).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "logs/analysis/routes.h"

namespace berth::logs::analysis {

inline constexpr size_t kBaselineSlices = 3;
inline constexpr uint64_t kMinSpikeErrors = 5;

// True when the line says an error happened (see above).
bool IsErrorLine(std::string_view line, const FieldOf& field);

struct ErrorSlice {
  uint64_t lines = 0;
  uint64_t errors = 0;
};

struct ServiceErrors {
  std::string service;
  uint64_t lines = 0, errors = 0;
  std::vector<ErrorSlice> slices;
  bool spike = false;
  size_t spike_slice = 0;      // the newest slice that spiked
  double baseline_rate = 0;    // errors/lines before it
  double spike_rate = 0;       // errors/lines in it
  double expected_errors = 0;  // the upper-bound baseline * its lines
};

class ErrorRates {
 public:
  ErrorRates(int64_t start_ns, int64_t end_ns, size_t slices);
  void Add(std::string_view service, int64_t ts_ns, bool error);
  // Services, spiking ones first, then by errors.
  std::vector<ServiceErrors> Services() const;
  // The spike rule on one service's slices (exposed for tests): fills spike and its fields.
  static void FindSpike(ServiceErrors& s);

 private:
  const int64_t start_ns_, end_ns_;
  const size_t slices_;
  std::map<std::string, ServiceErrors, std::less<>> services_;
};

}  // namespace berth::logs::analysis
