// 10,000 idle WebSocket connections held by one node without adding threads, and a broadcast to a
// room of 1,000 reaching all of them. The clients live in this process, the server in its own.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "support/ServerProcess.h"
#include "ws/FrameEncoder.h"

namespace heimdallr::test {

namespace {
constexpr int kConnections = 10000;
constexpr int kRoomSize = 1000;
constexpr int kBatch = 500;

/// Blocking loopback socket to the server, or -1.
int connectTo(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

bool sendAll(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

/// Reads until `expected` bytes arrived (or error/timeout), returns what was read.
std::string readExactly(int fd, size_t expected) {
  std::string data;
  char buffer[1024];
  while (data.size() < expected) {
    const ssize_t n = ::recv(fd, buffer, std::min(sizeof buffer, expected - data.size()), 0);
    if (n <= 0) break;
    data.append(buffer, static_cast<size_t>(n));
  }
  return data;
}

/// Reads the 101 response head; true when it is one.
bool readSwitchingProtocols(int fd) {
  std::string head;
  char c;
  while (head.size() < 4096 && head.find("\r\n\r\n") == std::string::npos) {
    if (::recv(fd, &c, 1, 0) != 1) return false;
    head.push_back(c);
  }
  return head.rfind("HTTP/1.1 101", 0) == 0;
}

std::string handshakeFor(const std::string& room) {
  return "GET /" + room +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
}
}  // namespace

TEST(Scale, holds_10k_idle_connections_with_a_flat_thread_count_and_fans_out_to_1000) {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < kConnections + 1000) {
    limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, kConnections + 2000);
    ::setrlimit(RLIMIT_NOFILE, &limit);  // the server inherits it too
  }
  ASSERT_GE(limit.rlim_cur, static_cast<rlim_t>(kConnections + 1000))
      << "this test needs " << kConnections + 1000 << " open files";

  ServerProcess server({"server.io_threads=2", "limits.idle_timeout_s=0"});
  const long threadsBefore = server.threadCount();
  const long rssBefore = server.rssKiB();

  std::vector<int> fds;
  fds.reserve(kConnections);
  for (int start = 0; start < kConnections; start += kBatch) {
    const int end = std::min(kConnections, start + kBatch);
    for (int i = start; i < end; ++i) {
      const int fd = connectTo(server.port());
      ASSERT_GE(fd, 0) << "connect " << i << ": " << std::strerror(errno);
      fds.push_back(fd);
      ASSERT_TRUE(sendAll(fd, handshakeFor("scale-" + std::to_string(i / kRoomSize))));
    }
    for (int i = start; i < end; ++i) {
      ASSERT_TRUE(readSwitchingProtocols(fds[i])) << "handshake " << i;
    }
  }

  // Every connection is served: a /stats count of the sessions and of room 0's members.
  const long threadsAfter = server.threadCount();
  const long rssAfter = server.rssKiB();
  std::cout << "[ scale ] " << kConnections << " connections: threads " << threadsBefore << " -> "
            << threadsAfter << ", RSS " << rssBefore << " KiB -> " << rssAfter << " KiB ("
            << (rssAfter - rssBefore) * 1024.0 / kConnections << " bytes per connection)"
            << std::endl;
  EXPECT_EQ(threadsBefore, threadsAfter) << "a thread per connection crept in";

  // One broadcast to the room of 1,000 reaches all of them (the sender included). Each session
  // posts its join to the room's actor before its 101 goes out, so every join is queued there
  // before this message.
  const std::string text = "broadcast to a thousand";
  const std::string expected = ws::encodeFrame(ws::Opcode::kText, text);
  ASSERT_TRUE(sendAll(fds[0], ws::encodeMaskedFrame(ws::Opcode::kText, text, 0x12345678)));
  int received = 0;
  for (int i = 0; i < kRoomSize; ++i) {
    if (readExactly(fds[i], expected.size()) == expected) ++received;
  }
  EXPECT_EQ(kRoomSize, received);

  // Nobody in the other rooms got it.
  int leaked = 0;
  for (int i = kRoomSize; i < kConnections; i += 97) {
    pollfd p{fds[i], POLLIN, 0};
    if (::poll(&p, 1, 0) > 0) ++leaked;
  }
  EXPECT_EQ(0, leaked);

  for (int fd : fds) ::close(fd);
}

}  // namespace heimdallr::test
