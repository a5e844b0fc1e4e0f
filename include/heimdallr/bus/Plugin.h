// How a bus plugin exports itself. A plugin is a shared object with exactly one Bus class:
//
//   #include <heimdallr/bus/Plugin.h>
//   HEIMDALLR_BUS_PLUGIN(MyBus)
//
// The host loads it with Poco::ClassLoader and refuses it unless heimdallrBusApiVersion()
// equals the kApiVersion the host was built with.
#pragma once

#include <Poco/ClassLibrary.h>

#include "heimdallr/bus/Bus.h"

#define HEIMDALLR_BUS_PLUGIN(BusClass)                       \
  extern "C" POCO_LIBRARY_API int heimdallrBusApiVersion() { \
    return ::heimdallr::bus::kApiVersion;                    \
  }                                                          \
  POCO_BEGIN_MANIFEST(::heimdallr::bus::Bus)                 \
  POCO_EXPORT_CLASS(BusClass)                                \
  POCO_END_MANIFEST

namespace heimdallr::bus {
/// The symbol the host looks up before trusting a plugin's manifest.
inline constexpr const char* kApiVersionSymbol = "heimdallrBusApiVersion";

/// `bus.plugin: NAME` is loaded from `<bus.plugin_dir>/libheimdallr-NAME-bus.so`.
inline std::string pluginFileName(const std::string& name) {
  return "libheimdallr-" + name + "-bus.so";
}
}  // namespace heimdallr::bus
