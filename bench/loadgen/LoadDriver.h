#pragma once

#include <netinet/in.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <queue>
#include <string>
#include <vector>

#include "ClientConnection.h"
#include "CpuMeter.h"
#include "Histogram.h"

namespace heimdallr::bench {

/// What one generator run does (see main.cpp's usage text for the flags).
struct DriverOptions {
  enum class Mode : uint8_t { kRun, kIdle };
  Mode mode = Mode::kRun;
  Protocol protocol = Protocol::kHeimdallr;
  std::vector<Endpoint> targets;     // subscribers (and publishers unless pubTargets) round-robin
  std::vector<Endpoint> pubTargets;  // separate publishers' targets; empty = targets
  std::vector<in_addr> sources;      // local addresses to connect from, round-robin; empty = any

  uint32_t rooms = 1;
  uint32_t roomSize = 10;     // recording members per room
  uint32_t pubsPerRoom = 1;   // the first pubsPerRoom members publish, unless pubsSeparate
  bool pubsSeparate = false;  // publishers are extra, non-recording connections
  std::string roomPrefix = "bench";
  /// Appended to every upgrade path, e.g. "?token=<jwt>" (heimdallr with auth on).
  std::string query;
  size_t payloadSize = 128;

  double rate = 0;          // total messages/s over all publishers (first measured step)
  double pubRate = 0;       // or per publisher; used when rate == 0
  uint32_t burst = 3;       // messages per publisher per firing in burst steps (same mean rate)
  uint32_t burstSteps = 0;  // measured burst steps after the steady ones (all publishers fire
                            // `burst` messages at the same instants)
  double settleS = 0.5;
  double warmupS = 1;
  double stepS = 5;
  uint32_t steps = 1;  // measured steps; > 1 ramps the rate by rampFactor each step
  double rampFactor = 1.5;
  double drainS = 2;         // longest wait after a step for its messages still in flight
  double p99LimitMs = 100;   // a ramp stops at the first step above this, or with any loss
  double genCpuLimit = 0.8;  // generator busier than this fraction of a core: step invalid

  std::vector<pid_t> watchPids;  // server processes whose CPU is reported per step
  uint32_t connectConcurrency = 256;
  double connectTimeoutS = 60;
  uint32_t connectRetries = 3;
  double holdS = 0;  // idle mode: 0 = until stdin closes
  std::string label;
};

/// The whole generator: connections on one epoll set served by one thread, an open-loop publisher
/// schedule, per-step latency histograms and loss/duplicate/order accounting, and a JSON report.
/// Not thread-safe: run() is called once, on one thread.
class LoadDriver final : private ClientConnection::Listener {
 public:
  explicit LoadDriver(DriverOptions options);
  ~LoadDriver() override;

  /// Runs the whole scenario; returns the process exit code (0 ok, 2 connect failures, 3 a step
  /// failed). The JSON report goes to stdout, progress to stderr.
  int run();

 private:
  struct Step {
    uint32_t index = 0;
    bool warmup = false;
    uint32_t burst = 1;  // messages per publisher per firing
    double rate = 0;     // offered, messages/s
    uint64_t startNs = 0, endNs = 0, closedNs = 0;
    bool closed = false;
    uint64_t sent = 0, expected = 0, delivered = 0, unique = 0, duplicates = 0, outOfOrder = 0;
    uint64_t late = 0, closedConnections = 0;
    Histogram latency;
    Histogram sendLag;
    CpuSnapshot cpuStart, cpuEnd;
  };
  struct Publisher {
    ClientConnection* conn = nullptr;
    uint32_t id = 0;
    uint64_t seq = 0;
  };

  void onOpen(ClientConnection& conn) override;
  void onMessage(ClientConnection& conn, std::string_view payload, uint64_t recvNs) override;
  void onClosed(ClientConnection& conn, bool wasOpen, const std::string& why) override;

  void buildConnections();
  bool connectAll();
  void poll(uint64_t untilNs);
  void runFor(uint64_t untilNs);
  void runStep(Step& step);
  void drainStep(Step& step);
  bool stepPassed(const Step& step, std::string& why) const;
  void reportStep(const Step& step) const;
  int runIdle();
  void writeReport(int exitCode, const std::string& error) const;
  void writeStep(class JsonWriter& w, const Step& step) const;

  DriverOptions opt_;
  int epollFd_ = -1;
  std::vector<std::unique_ptr<ClientConnection>> conns_;
  std::vector<Publisher> publishers_;
  std::vector<std::unique_ptr<Step>> steps_;
  std::vector<char> scratch_;
  std::string payloadBuf_;

  uint32_t opened_ = 0, failedConnects_ = 0, inFlight_ = 0;
  uint64_t connectNs_ = 0;
  std::vector<ClientConnection*> retryQueue_;
  std::string firstConnectError_;
  bool connecting_ = true;
  uint64_t closedAfterOpen_ = 0;
  std::string firstCloseReason_;
  uint64_t unparsed_ = 0, foreign_ = 0, publisherEchoes_ = 0, outOfRange_ = 0;
  uint64_t v2Acks_ = 0, v2Errors_ = 0, v2OtherFrames_ = 0;  // protocol v2 only
  std::string v2FirstError_;
  bool stdinOpen_ = true;
  uint64_t runStartNs_ = 0;
  CpuSnapshot runCpuStart_;
};

}  // namespace heimdallr::bench
