#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

namespace heimdallr::bench {

/// CPU seconds (user + system) used so far by this process (getrusage) and by other processes
/// (/proc/PID/stat utime + stime, all threads, clock-tick resolution). Thread-safe (no state).
double selfCpuSeconds();
/// -1 when the process is gone or unreadable.
double processCpuSeconds(pid_t pid);

/// Seconds the process's threads have spent runnable but waiting for a CPU (sum of
/// /proc/PID/task/*/schedstat run_delay; pid 0 = this process). -1 when unreadable (no
/// CONFIG_SCHEDSTATS). Shows when other work on the machine, not the measured code, held the CPU.
double runQueueWaitSeconds(pid_t pid);

/// Seconds the process's threads have run on a CPU (sum of /proc/PID/task/*/schedstat run time,
/// nanosecond resolution, unlike the clock ticks of /proc/PID/stat; threads that have exited are
/// not counted). -1 when unreadable.
double scheduledCpuSeconds(pid_t pid);

/// A snapshot of this process and a list of watched processes, to take differences of.
struct CpuSnapshot {
  uint64_t wallNs = 0;
  double self = 0;
  double selfWait = 0;
  std::vector<double> watched;
  std::vector<double> watchedWait;

  static CpuSnapshot take(const std::vector<pid_t>& pids);
};

}  // namespace heimdallr::bench
