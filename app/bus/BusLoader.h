#pragma once

#include <Poco/ClassLoader.h>

#include <memory>
#include <string>

#include "heimdallr/bus/Bus.h"

namespace heimdallr::bus {

/// Loads the bus plugin named by `bus.plugin` from `bus.plugin_dir` and owns both the library and
/// the Bus object made from it. Destroying the loader stops and deletes the bus first and only
/// then unloads the library. Not thread-safe: used on the main thread at start-up and shutdown.
class BusLoader {
 public:
  /// Throws std::runtime_error naming `bus.plugin` or `bus.plugin_dir` when the file is missing,
  /// is not a heimdallr bus plugin, or was built against another kApiVersion.
  BusLoader(const std::string& pluginName, const std::string& pluginDir);
  ~BusLoader();
  BusLoader(const BusLoader&) = delete;
  BusLoader& operator=(const BusLoader&) = delete;

  Bus& bus() { return *bus_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  Poco::ClassLoader<Bus> loader_;
  Bus* bus_ = nullptr;  // created by the plugin's factory; deleted in ~BusLoader
};

}  // namespace heimdallr::bus
