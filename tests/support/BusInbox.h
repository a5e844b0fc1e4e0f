#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "heimdallr/bus/Bus.h"

namespace heimdallr::test {

/// Collects what a bus subscription receives (on the bus thread) for the test thread to inspect:
/// its messages, and apart from them how often the plugin said it may have missed some
/// (MessageKind::kResync). Thread-safe.
class BusInbox {
 public:
  bus::MessageHandler handler() {
    return [this](const bus::BusMessagePtr& msg) {
      std::lock_guard lock(mutex_);
      if (msg->kind == bus::MessageKind::kResync) {
        ++resyncs_;
      } else {
        messages_.push_back(msg);
      }
      changed_.notify_all();
    };
  }
  bool waitForResyncs(size_t count, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return resyncs_ >= count; });
  }
  size_t resyncs() {
    std::lock_guard lock(mutex_);
    return resyncs_;
  }
  bool waitFor(size_t count, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return messages_.size() >= count; });
  }
  std::vector<bus::BusMessagePtr> messages() {
    std::lock_guard lock(mutex_);
    return messages_;
  }
  size_t size() {
    std::lock_guard lock(mutex_);
    return messages_.size();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<bus::BusMessagePtr> messages_;
  size_t resyncs_ = 0;
};

inline bus::BusMessagePtr busMessage(const std::string& subject, const std::string& payload,
                                     const std::string& origin = "node-a") {
  auto msg = std::make_shared<bus::BusMessage>();
  msg->subject = subject;
  msg->payload = payload;
  msg->origin = origin;
  msg->flags = bus::BusMessage::kFlagBinary;
  msg->originTimeNs = 1234567890123;
  return msg;
}

}  // namespace heimdallr::test
