#include "FanoutMicro.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "Clock.h"
#include "JsonWriter.h"

namespace heimdallr::bench {
namespace {

double threadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

void pinThisThread(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

struct Pairs {
  std::vector<int> senders, receivers;
  ~Pairs() {
    for (int fd : senders) ::close(fd);
    for (int fd : receivers) ::close(fd);
  }
};

void makePairs(size_t n, Pairs& pairs) {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener, 4096) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("micro: cannot listen on loopback");
  }
  for (size_t i = 0; i < n; ++i) {
    const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c < 0 || ::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error("micro: connect failed");
    }
    const int s = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (s < 0) throw std::runtime_error("micro: accept failed");
    const int one = 1;
    ::setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pairs.receivers.push_back(c);
    pairs.senders.push_back(s);
  }
  ::close(listener);
}

struct PassResult {
  unsigned long long deliveries = 0, sends = 0, blocked = 0;
  double wall = 0, cpu = 0;
};

// Sends `batch` payloads per send() to every sender socket, round after round, for `seconds`.
PassResult sendPass(const std::vector<int>& fds, size_t payloadSize, size_t batch, double seconds) {
  const std::string buf(payloadSize * batch, 'x');
  PassResult r;
  const uint64_t start = monotonicNs();
  const uint64_t end = start + static_cast<uint64_t>(seconds * 1e9);
  const double cpu0 = threadCpuSeconds();
  for (;;) {
    for (int fd : fds) {
      const ssize_t n = ::send(fd, buf.data(), buf.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        r.deliveries += static_cast<size_t>(n) / payloadSize;
        ++r.sends;
      } else {
        ++r.blocked;  // the receiver fell behind; the reader thread catches up
      }
    }
    if (monotonicNs() >= end) break;
  }
  r.cpu = threadCpuSeconds() - cpu0;
  r.wall = static_cast<double>(monotonicNs() - start) / 1e9;
  return r;
}

}  // namespace

std::string runFanoutMicro(size_t connections, size_t payloadSize, double seconds, size_t batch,
                           int senderCpu, int readerCpu) {
  pinThisThread(senderCpu);
  Pairs pairs;
  makePairs(connections, pairs);
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    pinThisThread(readerCpu);
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    for (int fd : pairs.receivers) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = fd;
      ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    std::vector<char> buf(256 * 1024);
    epoll_event events[256];
    while (!stop.load(std::memory_order_relaxed)) {
      const int n = ::epoll_wait(ep, events, 256, 10);
      for (int i = 0; i < n; ++i) {
        while (::recv(events[i].data.fd, buf.data(), buf.size(), MSG_DONTWAIT) > 0) {
        }
      }
    }
    ::close(ep);
  });
  const PassResult single = sendPass(pairs.senders, payloadSize, 1, seconds);
  const PassResult coalesced = sendPass(pairs.senders, payloadSize, batch, seconds);
  stop = true;
  reader.join();

  JsonWriter w;
  auto pass = [&](const char* name, const PassResult& r, size_t b) {
    w.key(name)
        .beginObject()
        .field("batch", static_cast<unsigned long long>(b))
        .field("deliveries", r.deliveries)
        .field("sends", r.sends)
        .field("blocked_sends", r.blocked)
        .field("seconds", r.wall)
        .field("sender_cpu_s", r.cpu)
        .field("deliveries_per_s", r.wall > 0 ? static_cast<double>(r.deliveries) / r.wall : 0)
        .field("deliveries_per_cpu_s", r.cpu > 0 ? static_cast<double>(r.deliveries) / r.cpu : 0)
        .endObject();
  };
  w.beginObject()
      .field("mode", "micro")
      .field("connections", static_cast<unsigned long long>(connections))
      .field("payload_bytes", static_cast<unsigned long long>(payloadSize))
      .field("sender_cpu", senderCpu)
      .field("reader_cpu", readerCpu);
  pass("one_send_per_recipient", single, 1);
  pass("coalesced", coalesced, batch);
  w.endObject();
  return w.str();
}

}  // namespace heimdallr::bench
