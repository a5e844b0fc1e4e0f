#pragma once

#include <time.h>

#include <cstdint>

namespace heimdallr::bench {

/// CLOCK_MONOTONIC in nanoseconds: the clock of every intended send time and receive time.
inline uint64_t monotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace heimdallr::bench
