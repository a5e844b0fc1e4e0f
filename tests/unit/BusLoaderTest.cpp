#include <gtest/gtest.h>

#include <stdexcept>

#include "bus/BusLoader.h"

namespace heimdallr::bus {

namespace {
std::string loadError(const std::string& name, const std::string& dir) {
  try {
    BusLoader loader(name, dir);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(BusLoader, loads_the_inmem_plugin_and_makes_a_bus) {
  BusLoader loader("inmem", HEIMDALLR_PLUGIN_DIR);
  loader.bus().start("node-a", {});
  EXPECT_TRUE(loader.bus().status().up);
}

TEST(BusLoader, unknown_plugin_name_names_the_key) {
  const std::string error = loadError("nosuch", HEIMDALLR_PLUGIN_DIR);
  EXPECT_NE(std::string::npos, error.find("bus.plugin")) << error;
  EXPECT_NE(std::string::npos, error.find("nosuch")) << error;
}

TEST(BusLoader, missing_plugin_dir_names_the_key) {
  const std::string error = loadError("inmem", "/nonexistent/plugins");
  EXPECT_NE(std::string::npos, error.find("bus.plugin")) << error;
  EXPECT_NE(std::string::npos, error.find("/nonexistent/plugins")) << error;
}

TEST(BusLoader, refuses_a_plugin_of_another_api_version) {
  const std::string error = loadError("wrongversion", HEIMDALLR_TEST_PLUGIN_DIR);
  EXPECT_NE(std::string::npos, error.find("version 999")) << error;
}

TEST(BusLoader, refuses_a_shared_object_that_is_not_a_bus_plugin) {
  const std::string error = loadError("notaplugin", HEIMDALLR_TEST_PLUGIN_DIR);
  EXPECT_NE(std::string::npos, error.find("not a heimdallr bus plugin")) << error;
}

TEST(BusLoader, rejects_plugin_names_that_could_escape_the_directory) {
  const std::string error = loadError("../inmem", HEIMDALLR_PLUGIN_DIR);
  EXPECT_NE(std::string::npos, error.find("invalid plugin name")) << error;
}

}  // namespace heimdallr::bus
