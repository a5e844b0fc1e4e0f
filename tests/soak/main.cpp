// heimdallr_soak_client: the load of scripts/soak. See SoakDriver.h for what it checks.
//
//   heimdallr_soak_client --target HOST:PORT[,HOST:PORT...] [--duration S] [--rooms N]
//       [--subs-per-node N] [--pubs-per-node N] [--pub-rate MSG/S] [--size BYTES]
//       [--churn-rate CONN/S] [--churn-min S] [--churn-max S] [--churn-send-share F]
//       [--own-room-share F] [--early-abort-share F] [--drain S] [--close-timeout S]
//       [--status S] [--report FILE] [--room-prefix S] [--seed N]
//       [--v2-rooms N] [--v2-pubs-per-node N] [--v2-subs-per-node N] [--v2-reconnecters N]
//       [--v2-pub-rate MSG/S] [--v2-stay-min S] [--v2-stay-max S] [--v2-away-min S]
//       [--v2-away-max S] [--v2-room-prefix S]
//
// --v2-rooms N (default 0) adds the protocol-v2 load in rooms <v2-room-prefix>-0.. (default
// "v2-0"..), which the server must keep history for (room_rules): see V2Load.h.
//
// Prints "READY ..." on stdout when the load starts, progress lines on stderr, the JSON summary to
// --report (or stdout) and "DONE passed|failed" at the end. Exit 0 passed, 2 set-up failed, 3 a
// check failed, 64 bad usage.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <string>
#include <string_view>

#include "SoakDriver.h"

namespace {

[[noreturn]] void usage(const std::string& error, int exitCode = 64) {
  std::fprintf(stderr,
               "heimdallr_soak_client: %s\n"
               "usage: heimdallr_soak_client --target HOST:PORT[,...] [--duration S] [--rooms N]\n"
               "         [--subs-per-node N] [--pubs-per-node N] [--pub-rate MSG/S] [--size B]\n"
               "         [--churn-rate CONN/S] [--churn-min S] [--churn-max S]\n"
               "         [--churn-send-share F] [--own-room-share F] [--early-abort-share F]\n"
               "         [--drain S] [--close-timeout S] [--status S] [--report FILE]\n"
               "         [--room-prefix S] [--seed N]\n"
               "         [--v2-rooms N] [--v2-pubs-per-node N] [--v2-subs-per-node N]\n"
               "         [--v2-reconnecters N] [--v2-pub-rate MSG/S] [--v2-stay-min S]\n"
               "         [--v2-stay-max S] [--v2-away-min S] [--v2-away-max S]\n"
               "         [--v2-room-prefix S]\n",
               error.c_str());
  std::exit(exitCode);
}

class Flags {
 public:
  Flags(int argc, char** argv) {
    for (int i = 1; i < argc; i += 2) {
      const std::string name = argv[i];
      if (name.rfind("--", 0) != 0 || i + 1 >= argc) usage("bad argument " + name);
      values_[name.substr(2)] = argv[i + 1];
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

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--help" || std::string_view(argv[i]) == "-h") {
      usage("help", 0);
    }
  }
  ::signal(SIGPIPE, SIG_IGN);
  Flags flags(argc, argv);
  heimdallr::soak::SoakOptions o;
  const std::string targets = flags.str("target", "");
  size_t start = 0;
  while (start < targets.size()) {
    size_t comma = targets.find(',', start);
    if (comma == std::string::npos) comma = targets.size();
    auto e = heimdallr::bench::parseEndpoint(targets.substr(start, comma - start));
    if (!e) usage("--target: not an IPv4 HOST:PORT: " + targets.substr(start, comma - start));
    o.targets.push_back(*e);
    start = comma + 1;
  }
  if (o.targets.empty()) usage("--target is required");
  o.durationS = flags.num("duration", o.durationS);
  o.rooms = static_cast<uint32_t>(flags.num("rooms", o.rooms));
  o.subsPerNode = static_cast<uint32_t>(flags.num("subs-per-node", o.subsPerNode));
  o.pubsPerNode = static_cast<uint32_t>(flags.num("pubs-per-node", o.pubsPerNode));
  o.pubRate = flags.num("pub-rate", o.pubRate);
  o.payloadSize = static_cast<size_t>(flags.num("size", static_cast<double>(o.payloadSize)));
  o.churnRate = flags.num("churn-rate", o.churnRate);
  o.churnMinS = flags.num("churn-min", o.churnMinS);
  o.churnMaxS = flags.num("churn-max", o.churnMaxS);
  o.churnSendShare = flags.num("churn-send-share", o.churnSendShare);
  o.ephemeralShare = flags.num("own-room-share", o.ephemeralShare);
  o.earlyAbortShare = flags.num("early-abort-share", o.earlyAbortShare);
  o.drainS = flags.num("drain", o.drainS);
  o.closeTimeoutS = flags.num("close-timeout", o.closeTimeoutS);
  o.statusS = flags.num("status", o.statusS);
  o.reportPath = flags.str("report", "");
  o.roomPrefix = flags.str("room-prefix", o.roomPrefix);
  o.seed = static_cast<uint64_t>(flags.num("seed", static_cast<double>(o.seed)));
  auto& v2 = o.v2;
  v2.rooms = static_cast<uint32_t>(flags.num("v2-rooms", v2.rooms));
  v2.pubsPerNode = static_cast<uint32_t>(flags.num("v2-pubs-per-node", v2.pubsPerNode));
  v2.subsPerNode = static_cast<uint32_t>(flags.num("v2-subs-per-node", v2.subsPerNode));
  v2.reconnecters = static_cast<uint32_t>(flags.num("v2-reconnecters", v2.reconnecters));
  v2.pubRate = flags.num("v2-pub-rate", v2.pubRate);
  v2.stayMinS = flags.num("v2-stay-min", v2.stayMinS);
  v2.stayMaxS = flags.num("v2-stay-max", v2.stayMaxS);
  v2.awayMinS = flags.num("v2-away-min", v2.awayMinS);
  v2.awayMaxS = flags.num("v2-away-max", v2.awayMaxS);
  v2.roomPrefix = flags.str("v2-room-prefix", v2.roomPrefix);
  flags.checkAllUsed();
  if (o.rooms == 0 || o.pubsPerNode == 0) usage("--rooms and --pubs-per-node must be positive");
  if (o.pubRate <= 0) usage("--pub-rate must be positive");
  if (o.churnMaxS < o.churnMinS) usage("--churn-max must be at least --churn-min");
  if (o.statusS <= 0) o.statusS = 5;
  if (v2.rooms > 0 && (v2.pubsPerNode == 0 || v2.pubRate <= 0)) {
    usage("--v2-pubs-per-node and --v2-pub-rate must be positive with --v2-rooms");
  }
  if (v2.stayMaxS < v2.stayMinS || v2.awayMaxS < v2.awayMinS) {
    usage("--v2-stay-max / --v2-away-max must be at least their min");
  }
  try {
    heimdallr::soak::SoakDriver driver(std::move(o));
    return driver.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "heimdallr_soak_client: %s\n", e.what());
    return 2;
  }
}
