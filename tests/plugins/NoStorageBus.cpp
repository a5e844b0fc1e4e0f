// A bus plugin without Storage: the host must refuse a config that asks for history or presence.
// Built as libheimdallr-inmem-bus.so in its own directory, since bus.plugin takes only the names
// the loader knows.
#include "heimdallr/bus/Bus.h"
#include "heimdallr/bus/Plugin.h"

namespace {
class NoStorageBus : public heimdallr::bus::Bus {
 public:
  void start(const std::string&, const heimdallr::bus::Options&) override {}
  void publish(heimdallr::bus::BusMessagePtr) override {}
  heimdallr::bus::SubscriptionId subscribe(const std::string&,
                                           heimdallr::bus::MessageHandler) override {
    return 1;
  }
  void unsubscribe(heimdallr::bus::SubscriptionId) override {}
  heimdallr::bus::BusStatus status() const override { return {true, {}}; }
  heimdallr::bus::BusCounters counters() const override { return {}; }
  void stop() override {}
};
}  // namespace

HEIMDALLR_BUS_PLUGIN(NoStorageBus)
