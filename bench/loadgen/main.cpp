// heimdallr_loadgen: the benchmark's load generator. See bench/README.md.
//
//   heimdallr_loadgen run   --protocol heimdallr|ws|socketio --target HOST:PORT[,...] [flags]
//   heimdallr_loadgen idle  --protocol ... --target ... --rooms N --room-size N [--hold S]
//   heimdallr_loadgen micro [--conns N] [--size B] [--seconds S] [--batch N]
//   heimdallr_loadgen presence --target HOST:PORT[,...] [--members N] [--calls N] [--room S]
//   heimdallr_loadgen recovery --protocol v2|socketio --target HOST:PORT[,...] [--reps N]
//                              [--missed N] [--pause S] [--room S]
//   heimdallr_loadgen --help
//
// run: connects every member, settles, warms up, then runs `--steps` measured steps of `--step`
// seconds at an open-loop rate (x`--ramp` per step; with a factor other than 1 the ramp stops at
// the first step with loss, p99 above --p99-limit-ms or a busy generator), then `--burst-steps`
// steps where publishers fire `--burst` messages at once, and prints one JSON report on stdout.
// idle: connects, prints "READY opened=N failed=M", answers pings until stdin closes (or --hold
// seconds), then prints the JSON report. micro: the loopback fan-out ceiling (S0). presence and
// recovery: closed-loop probes of protocol v2 (and Socket.IO's connection state recovery), see
// Probes.h; --protocol v2 makes `run` and `idle` speak protocol v2 too.
#include <arpa/inet.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "FanoutMicro.h"
#include "LoadDriver.h"
#include "Probes.h"

namespace {

using heimdallr::bench::DriverOptions;

[[noreturn]] void usage(const std::string& error, int exitCode = 64) {
  std::fprintf(stderr,
               "heimdallr_loadgen: %s\n"
               "usage: heimdallr_loadgen run|idle --protocol heimdallr|ws|socketio|v2 "
               "--target HOST:PORT[,...]\n"
               "         [--pub-target HOST:PORT[,...]] [--source ADDR[,...]] [--rooms N] "
               "[--room-size N]\n"
               "         [--pubs N] [--pubs-separate 1] [--room-prefix S] [--size BYTES] "
               "[--rate MSG/S | --pub-rate MSG/S]\n"
               "         [--burst N --burst-steps N] [--settle S] [--warmup S] [--step S] [--steps "
               "N] [--ramp F] "
               "[--drain S]\n"
               "         [--p99-limit-ms MS] [--gen-cpu-limit F] [--watch-pid PID[,...]] "
               "[--connect-concurrency N]\n"
               "         [--connect-timeout S] [--connect-retries N] [--hold S] [--label S]\n"
               "       heimdallr_loadgen micro [--conns N] [--size BYTES] [--seconds S] "
               "[--batch N] [--sender-cpu N] [--reader-cpu N]\n"
               "       heimdallr_loadgen presence --target HOST:PORT[,...] [--members N] "
               "[--calls N] [--warmup-reps N]\n"
               "         [--room S] [--connect-concurrency N] [--timeout S] [--watch-pid "
               "PID[,...]] [--label S]\n"
               "       heimdallr_loadgen recovery --protocol v2|socketio --target HOST:PORT[,...] "
               "[--reps N] [--warmup-reps N]\n"
               "         [--missed N] [--pause S] [--size BYTES] [--room S] [--timeout S] "
               "[--watch-pid PID[,...]] [--label S]\n",
               error.c_str());
  std::exit(exitCode);
}

std::vector<std::string> splitList(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    const std::string item =
        s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

/// Flags as "--name value" pairs; a repeated list flag accumulates.
class Flags {
 public:
  Flags(int argc, char** argv, int first) {
    for (int i = first; i < argc; i += 2) {
      const std::string name = argv[i];
      if (name.rfind("--", 0) != 0 || i + 1 >= argc) usage("bad argument " + name);
      auto& slot = values_[name.substr(2)];
      slot = slot.empty() ? argv[i + 1] : slot + "," + argv[i + 1];
    }
  }
  std::string str(const std::string& name, const std::string& def) {
    used_[name] = true;
    auto it = values_.find(name);
    return it == values_.end() ? def : it->second;
  }
  double num(const std::string& name, double def) {
    const std::string v = str(name, "");
    if (v.empty()) return def;
    char* end = nullptr;
    const double d = std::strtod(v.c_str(), &end);
    if (*end != '\0' || d < 0) usage("--" + name + " needs a non-negative number, got " + v);
    return d;
  }
  void checkAllUsed() const {
    for (const auto& [name, value] : values_) {
      if (!used_.count(name)) usage("unknown flag --" + name);
    }
  }

 private:
  std::map<std::string, std::string> values_;
  std::map<std::string, bool> used_;
};

std::vector<heimdallr::bench::Endpoint> endpoints(const std::string& list, const char* flag) {
  std::vector<heimdallr::bench::Endpoint> out;
  for (const auto& item : splitList(list)) {
    auto e = heimdallr::bench::parseEndpoint(item);
    if (!e) usage(std::string("--") + flag + ": not an IPv4 HOST:PORT: " + item);
    out.push_back(*e);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage("missing command");
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--help" || std::string_view(argv[i]) == "-h")
      usage("help", 0);
  }
  ::signal(SIGPIPE, SIG_IGN);
  const std::string command = argv[1];
  Flags flags(argc, argv, 2);
  try {
    if (command == "micro") {
      const auto conns = static_cast<size_t>(flags.num("conns", 100));
      const auto size = static_cast<size_t>(flags.num("size", 128));
      const double seconds = flags.num("seconds", 2);
      const auto batch = static_cast<size_t>(flags.num("batch", 16));
      const int senderCpu = static_cast<int>(flags.num("sender-cpu", -1));
      const int readerCpu = static_cast<int>(flags.num("reader-cpu", -1));
      flags.checkAllUsed();
      if (conns == 0 || size == 0 || batch == 0) usage("micro: sizes must be positive");
      std::printf("%s\n", heimdallr::bench::runFanoutMicro(conns, size, seconds, batch, senderCpu,
                                                           readerCpu)
                              .c_str());
      return 0;
    }
    if (command == "presence" || command == "recovery") {
      heimdallr::bench::ProbeOptions o;
      const std::string proto = flags.str("protocol", "v2");
      auto p = heimdallr::bench::parseProtocol(proto);
      if (!p || (*p != heimdallr::bench::Protocol::kV2 &&
                 (command == "presence" || *p != heimdallr::bench::Protocol::kSocketIo))) {
        usage(command == "presence" ? "presence speaks --protocol v2 only"
                                    : "recovery speaks --protocol v2 or socketio");
      }
      o.protocol = *p;
      o.targets = endpoints(flags.str("target", ""), "target");
      if (o.targets.empty()) usage("--target is required");
      o.room = flags.str("room", o.room);
      o.members = static_cast<uint32_t>(flags.num("members", o.members));
      o.calls = static_cast<uint32_t>(flags.num("calls", o.calls));
      o.reps = static_cast<uint32_t>(flags.num("reps", o.reps));
      o.warmupReps = static_cast<uint32_t>(flags.num("warmup-reps", o.warmupReps));
      o.missed = static_cast<uint32_t>(flags.num("missed", o.missed));
      o.pauseS = flags.num("pause", o.pauseS);
      o.connectConcurrency = std::max(
          1u, static_cast<uint32_t>(flags.num("connect-concurrency", o.connectConcurrency)));
      o.timeoutS = flags.num("timeout", o.timeoutS);
      o.payloadSize = static_cast<size_t>(flags.num("size", static_cast<double>(o.payloadSize)));
      for (const auto& s : splitList(flags.str("watch-pid", ""))) {
        o.watchPids.push_back(static_cast<pid_t>(std::atoi(s.c_str())));
      }
      o.label = flags.str("label", "");
      flags.checkAllUsed();
      return command == "presence" ? heimdallr::bench::runPresenceProbe(o)
                                   : heimdallr::bench::runRecoveryProbe(o);
    }
    if (command != "run" && command != "idle") usage("unknown command " + command);

    DriverOptions o;
    o.mode = command == "idle" ? DriverOptions::Mode::kIdle : DriverOptions::Mode::kRun;
    const std::string proto = flags.str("protocol", "heimdallr");
    auto p = heimdallr::bench::parseProtocol(proto);
    if (!p) usage("--protocol must be heimdallr, ws, socketio or v2");
    o.protocol = *p;
    o.targets = endpoints(flags.str("target", ""), "target");
    if (o.targets.empty()) usage("--target is required");
    o.pubTargets = endpoints(flags.str("pub-target", ""), "pub-target");
    for (const auto& s : splitList(flags.str("source", ""))) {
      in_addr a{};
      if (inet_pton(AF_INET, s.c_str(), &a) != 1) usage("--source: not an IPv4 address: " + s);
      o.sources.push_back(a);
    }
    o.rooms = static_cast<uint32_t>(flags.num("rooms", o.rooms));
    o.roomSize = static_cast<uint32_t>(flags.num("room-size", o.roomSize));
    o.pubsPerRoom = static_cast<uint32_t>(flags.num("pubs", o.pubsPerRoom));
    o.pubsSeparate = flags.num("pubs-separate", 0) != 0;
    o.roomPrefix = flags.str("room-prefix", o.roomPrefix);
    o.query = flags.str("query", "");
    if (!o.query.empty() && o.query.front() != '?' && o.query.front() != '&') {
      o.query = "?" + o.query;
    }
    o.payloadSize = static_cast<size_t>(flags.num("size", static_cast<double>(o.payloadSize)));
    o.rate = flags.num("rate", 0);
    o.pubRate = flags.num("pub-rate", 0);
    o.burst = static_cast<uint32_t>(flags.num("burst", o.burst));
    o.burstSteps = static_cast<uint32_t>(flags.num("burst-steps", 0));
    o.settleS = flags.num("settle", o.settleS);
    o.warmupS = flags.num("warmup", o.warmupS);
    o.stepS = flags.num("step", o.stepS);
    o.steps = static_cast<uint32_t>(flags.num("steps", o.steps));
    o.rampFactor = flags.num("ramp", o.rampFactor);
    o.drainS = flags.num("drain", o.drainS);
    o.p99LimitMs = flags.num("p99-limit-ms", o.p99LimitMs);
    o.genCpuLimit = flags.num("gen-cpu-limit", o.genCpuLimit);
    for (const auto& s : splitList(flags.str("watch-pid", ""))) {
      o.watchPids.push_back(static_cast<pid_t>(std::atoi(s.c_str())));
    }
    o.connectConcurrency =
        static_cast<uint32_t>(flags.num("connect-concurrency", o.connectConcurrency));
    o.connectTimeoutS = flags.num("connect-timeout", o.connectTimeoutS);
    o.connectRetries = static_cast<uint32_t>(flags.num("connect-retries", o.connectRetries));
    o.holdS = flags.num("hold", 0);
    o.label = flags.str("label", "");
    flags.checkAllUsed();
    if (o.rooms == 0 || o.roomSize == 0) usage("--rooms and --room-size must be positive");
    if (o.mode == DriverOptions::Mode::kRun && o.rate <= 0 && o.pubRate <= 0) {
      usage("run needs --rate or --pub-rate");
    }
    if (o.steps == 0 || o.stepS <= 0) usage("--steps and --step must be positive");
    if (o.connectConcurrency == 0) o.connectConcurrency = 1;

    heimdallr::bench::LoadDriver driver(std::move(o));
    return driver.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "heimdallr_loadgen: %s\n", e.what());
    return 1;
  }
}
