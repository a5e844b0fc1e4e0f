#include "CpuMeter.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "Clock.h"

namespace heimdallr::bench {

double selfCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

double processCpuSeconds(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return -1;
  char buf[1024];
  const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const char* p = std::strrchr(buf, ')');
  if (!p) return -1;
  unsigned long utime = 0, stime = 0;
  // state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15)
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) !=
      2) {
    return -1;
  }
  static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return static_cast<double>(utime + stime) / ticks;
}

namespace {
/// Sums field `field` (0: run time, 1: run-queue wait) of every thread's schedstat, in seconds.
double schedstatSum(pid_t pid, int field) {
  const std::string dir = pid == 0 ? "/proc/self/task" : "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (!d) return -1;
  double total = 0;
  bool any = false;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    FILE* f = std::fopen((dir + "/" + e->d_name + "/schedstat").c_str(), "r");
    if (!f) continue;
    unsigned long long run = 0, wait = 0;
    if (std::fscanf(f, "%llu %llu", &run, &wait) == 2) {
      total += static_cast<double>(field == 0 ? run : wait) / 1e9;
      any = true;
    }
    std::fclose(f);
  }
  closedir(d);
  return any ? total : -1;
}
}  // namespace

double runQueueWaitSeconds(pid_t pid) { return schedstatSum(pid, 1); }

double scheduledCpuSeconds(pid_t pid) { return schedstatSum(pid, 0); }

CpuSnapshot CpuSnapshot::take(const std::vector<pid_t>& pids) {
  CpuSnapshot s;
  s.wallNs = monotonicNs();
  s.self = selfCpuSeconds();
  s.selfWait = runQueueWaitSeconds(0);
  for (pid_t pid : pids) {
    s.watched.push_back(processCpuSeconds(pid));
    s.watchedWait.push_back(runQueueWaitSeconds(pid));
  }
  return s;
}

}  // namespace heimdallr::bench
