#pragma once

#include <cstddef>
#include <string>

namespace heimdallr::bench {

/// S0's loopback fan-out ceiling: how many 128-byte deliveries one core can push into N loopback
/// TCP sockets, with one send() per recipient per message, and with `batch` messages coalesced
/// into one send() per recipient (what a server's writev flush achieves under load). A second
/// thread drains the receiving ends. Returns the JSON result. Not thread-safe: call once.
/// `senderCpu` / `readerCpu` pin the two threads (-1: leave them where they are).
std::string runFanoutMicro(size_t connections, size_t payloadSize, double seconds, size_t batch,
                           int senderCpu, int readerCpu);

}  // namespace heimdallr::bench
