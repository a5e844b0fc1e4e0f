// What only the in-memory plugin does: its pending limit.
#include <gtest/gtest.h>

#include <stdexcept>

#include "bus/BusLoader.h"

namespace heimdallr::bus {

TEST(InMemBus, max_pending_must_be_a_positive_integer) {
  for (const char* bad : {"0", "-1", "ten", "1.5", ""}) {
    BusLoader loader("inmem", HEIMDALLR_PLUGIN_DIR);
    try {
      loader.bus().start("n", {{"max_pending", bad}});
      FAIL() << "accepted max_pending=" << bad;
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(0u, std::string(e.what()).rfind("max_pending", 0)) << e.what();
    }
  }
}

TEST(InMemBus, accepts_a_valid_max_pending) {
  BusLoader loader("inmem", HEIMDALLR_PLUGIN_DIR);
  EXPECT_NO_THROW(loader.bus().start("n", {{"max_pending", "10"}}));
}

}  // namespace heimdallr::bus
