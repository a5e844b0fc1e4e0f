// A bus plugin that claims another API version: the host must refuse it before creating it.
#include <stdexcept>

#include "heimdallr/bus/Bus.h"
#include "heimdallr/bus/Plugin.h"

namespace {
class WrongVersionBus : public heimdallr::bus::Bus {
 public:
  void start(const std::string&, const heimdallr::bus::Options&) override {
    throw std::logic_error("must never be started");
  }
  void publish(heimdallr::bus::BusMessagePtr) override {}
  heimdallr::bus::SubscriptionId subscribe(const std::string&,
                                           heimdallr::bus::MessageHandler) override {
    return 0;
  }
  void unsubscribe(heimdallr::bus::SubscriptionId) override {}
  heimdallr::bus::BusStatus status() const override { return {}; }
  heimdallr::bus::BusCounters counters() const override { return {}; }
  void stop() override {}
};
}  // namespace

extern "C" POCO_LIBRARY_API int heimdallrBusApiVersion() { return 999; }
POCO_BEGIN_MANIFEST(heimdallr::bus::Bus)
POCO_EXPORT_CLASS(WrongVersionBus)
POCO_END_MANIFEST
