#include "bus/BusLoader.h"

#include <Poco/File.h>
#include <Poco/Path.h>
#include <Poco/SharedLibrary.h>

#include <regex>
#include <stdexcept>

#include "heimdallr/bus/Plugin.h"

namespace heimdallr::bus {

namespace {
std::runtime_error pluginError(const std::string& key, const std::string& what) {
  return std::runtime_error(key + ": " + what);
}
}  // namespace

BusLoader::BusLoader(const std::string& pluginName, const std::string& pluginDir) {
  static const std::regex kName("[a-z0-9_-]{1,32}");
  if (!std::regex_match(pluginName, kName)) {
    throw pluginError("bus.plugin", "invalid plugin name \"" + pluginName + "\"");
  }
  Poco::Path path(Poco::Path(pluginDir).makeDirectory(), pluginFileName(pluginName));
  path_ = path.toString();
  if (!Poco::File(path_).exists()) {
    throw pluginError("bus.plugin", "no plugin \"" + pluginName + "\": " + path_ +
                                        " does not exist (check bus.plugin_dir)");
  }

  // Check the API version through a plain SharedLibrary before trusting the manifest: a plugin
  // built against another Bus layout must never get as far as constructing objects.
  int version = -1;
  try {
    Poco::SharedLibrary probe(path_);
    if (!probe.hasSymbol(kApiVersionSymbol)) {
      throw pluginError("bus.plugin",
                        path_ + " is not a heimdallr bus plugin (no " + kApiVersionSymbol + ")");
    }
    version = reinterpret_cast<int (*)()>(probe.getSymbol(kApiVersionSymbol))();
    probe.unload();
  } catch (const Poco::Exception& e) {
    throw pluginError("bus.plugin", "cannot load " + path_ + ": " + e.displayText());
  }
  if (version != kApiVersion) {
    throw pluginError("bus.plugin", path_ + " implements bus API version " +
                                        std::to_string(version) + ", this server needs " +
                                        std::to_string(kApiVersion));
  }

  try {
    loader_.loadLibrary(path_);
  } catch (const Poco::Exception& e) {
    throw pluginError("bus.plugin", "cannot load " + path_ + ": " + e.displayText());
  }
  const auto* manifest = loader_.findManifest(path_);
  if (manifest == nullptr || manifest->size() != 1) {
    throw pluginError("bus.plugin", path_ + " must export exactly one Bus class");
  }
  bus_ = loader_.create(manifest->begin()->name());
}

BusLoader::~BusLoader() {
  if (bus_ != nullptr) {
    bus_->stop();
    delete bus_;
    bus_ = nullptr;
  }
  if (!path_.empty() && loader_.isLibraryLoaded(path_)) loader_.unloadLibrary(path_);
}

}  // namespace heimdallr::bus
