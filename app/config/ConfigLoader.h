#pragma once

#include <string>
#include <vector>

#include "config/Config.h"
#include "config/ConfigError.h"

namespace heimdallr::config {

/// Reads the YAML file at `path`, then applies each override in order. Keys absent from both keep
/// the defaults in Config; an empty file means all defaults.
///
/// An override is `dotted.key=value` (from a repeatable `--set`); the value is parsed as YAML with
/// the same type rules as the file, and a later override wins over an earlier one and over the
/// file. Everything under `bus.<plugin>` is a flat map of scalars kept as text in
/// Config::bus.options for the chosen plugin only.
///
/// Throws ConfigError naming the file (or "--set") and the dotted key on: an unreadable file, a
/// YAML syntax error (with line and column), an unknown or duplicated key, a wrong type, a value
/// out of range or not in the allowed set, or an override without '='. Plain function of its
/// arguments and the file; safe to call from any thread.
Config loadConfig(const std::string& path, const std::vector<std::string>& overrides);

/// As loadConfig(), but parses `yaml` directly; `sourceName` stands for the file in messages.
Config loadConfigFromString(const std::string& yaml, const std::string& sourceName,
                            const std::vector<std::string>& overrides);

}  // namespace heimdallr::config
