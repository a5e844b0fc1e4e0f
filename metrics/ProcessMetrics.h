#pragma once

#include <prometheus/metric_family.h>

#include <vector>

namespace heimdallr::metrics {

/// The standard process_* families (CPU seconds, resident and virtual memory, open and max fds,
/// threads, start time), read from /proc/self at scrape time. Thread-safe (reads only).
std::vector<prometheus::MetricFamily> collectProcessMetrics();

}  // namespace heimdallr::metrics
