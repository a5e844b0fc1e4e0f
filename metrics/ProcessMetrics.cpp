#include "metrics/ProcessMetrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace heimdallr::metrics {

namespace {
prometheus::MetricFamily family(const char* name, const char* help, prometheus::MetricType type,
                                double value) {
  prometheus::MetricFamily f{name, help, type, {}};
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
  return f;
}

double bootTimeSeconds() {
  std::ifstream stat("/proc/stat");
  std::string key;
  double value = 0;
  while (stat >> key) {
    if (key == "btime") {
      stat >> value;
      return value;
    }
    stat.ignore(4096, '\n');
  }
  return 0;
}
}  // namespace

std::vector<prometheus::MetricFamily> collectProcessMetrics() {
  std::vector<prometheus::MetricFamily> out;
  std::ifstream statFile("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(statFile)), std::istreambuf_iterator<char>());
  // Fields after the parenthesised command name (which may itself contain spaces).
  const auto close = stat.rfind(')');
  if (close != std::string::npos) {
    std::istringstream fields(stat.substr(close + 2));
    std::vector<std::string> f;
    for (std::string token; fields >> token;) f.push_back(token);
    // f[0] is field 3 (state): utime is field 14, stime 15, num_threads 20, starttime 22,
    // vsize 23, rss 24.
    if (f.size() > 21) {
      const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
      const double cpu = (std::stod(f[11]) + std::stod(f[12])) / ticks;
      out.push_back(family("process_cpu_seconds_total",
                           "Total user and system CPU time spent in seconds.",
                           prometheus::MetricType::Counter, cpu));
      out.push_back(family("process_threads", "Number of OS threads in the process.",
                           prometheus::MetricType::Gauge, std::stod(f[17])));
      out.push_back(family(
          "process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
          prometheus::MetricType::Gauge, bootTimeSeconds() + std::stod(f[19]) / ticks));
      out.push_back(family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                           prometheus::MetricType::Gauge, std::stod(f[20])));
      out.push_back(family("process_resident_memory_bytes", "Resident memory size in bytes.",
                           prometheus::MetricType::Gauge,
                           std::stod(f[21]) * static_cast<double>(sysconf(_SC_PAGESIZE))));
    }
  }
  std::error_code ignored;
  double fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ignored);
       it != std::filesystem::directory_iterator(); it.increment(ignored)) {
    ++fds;
  }
  out.push_back(family("process_open_fds", "Number of open file descriptors.",
                       prometheus::MetricType::Gauge, fds));
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  out.push_back(family("process_max_fds", "Maximum number of open file descriptors.",
                       prometheus::MetricType::Gauge, static_cast<double>(limit.rlim_cur)));
  return out;
}

}  // namespace heimdallr::metrics
