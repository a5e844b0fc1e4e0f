#pragma once

#include <memory>
#include <string>

namespace heimdallr::net {

/// Immutable bytes shared by reference count: one encoded frame handed to many connections on
/// many loops without copying. Safe to share across threads because nobody mutates it.
using SharedBuffer = std::shared_ptr<const std::string>;

inline SharedBuffer makeSharedBuffer(std::string&& bytes) {
  return std::make_shared<const std::string>(std::move(bytes));
}

}  // namespace heimdallr::net
