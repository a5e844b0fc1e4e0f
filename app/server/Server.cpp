#include "server/Server.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>

#include "http/HttpConnection.h"
#include "http/StatusEndpoints.h"
#include "net/Connection.h"

namespace heimdallr::server {

namespace {
std::vector<net::IoLoop*> rawLoops(const std::vector<std::unique_ptr<net::IoLoop>>& loops) {
  std::vector<net::IoLoop*> raw;
  for (const auto& loop : loops) raw.push_back(loop.get());
  return raw;
}
}  // namespace

namespace {
// "host:port" or "[v6]:port", already validated by the config loader.
std::pair<std::string, uint16_t> splitListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  return {host, static_cast<uint16_t>(std::stoi(listen.substr(colon + 1)))};
}
}  // namespace

Server::Server(const config::Config& config, std::string nodeId, bus::Bus& bus,
               Credentials& credentials)
    : config_(config) {
  int loopCount = config.server.ioThreads;
  if (loopCount <= 0)
    loopCount = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 0; i < loopCount; ++i) loops_.push_back(std::make_unique<net::IoLoop>(i));
  metrics_ = std::make_unique<metrics::NodeMetrics>(loops_.size());
  metrics_->setSnapshotSource([this, &bus] { return metricsSnapshot(bus); });
  hub_ = std::make_unique<room::RoomHub>(rawLoops(loops_), bus, nodeId, directory_,
                                         config.metrics.enabled ? metrics_.get() : nullptr,
                                         config.rooms);
  // Publishes what GET /stats shows; called only between start() and stop(), once context_ is set.
  clusterStats_ = std::make_unique<cluster::ClusterStats>(
      bus, nodeId, config.stats.interval, [this] { return http::nodeStats(*context_); });
  users_ = std::make_unique<UserSessions>(rawLoops(loops_), bus, nodeId);
  context_.reset(new ServerContext{config, nodeId, bus, *hub_, directory_, rawLoops(loops_),
                                   *clusterStats_, *metrics_, credentials, *users_});
  const bool splitPorts = !config.api.listen.empty();
  const http::Listener publicRole = splitPorts ? http::Listener::kPublic : http::Listener::kMain;
  acceptor_ = std::make_unique<net::Acceptor>(
      config.server.host, static_cast<uint16_t>(config.server.port), config.server.httpThreads,
      [this, publicRole](int fd, std::string peer) { adopt(fd, std::move(peer), publicRole); });
  if (splitPorts) {
    const auto [host, port] = splitListen(config.api.listen);
    apiAcceptor_ = std::make_unique<net::Acceptor>(host, port, 1, [this](int fd, std::string peer) {
      adopt(fd, std::move(peer), http::Listener::kApi);
    });
  }
}

Server::~Server() { stop(0); }

void Server::start() {
  for (auto& loop : loops_) loop->start();
  started_ = true;
  acceptor_->start();
  if (apiAcceptor_) apiAcceptor_->start();
  users_->start();
  clusterStats_->start();
  context_->ready = true;
}

// Acceptor thread: round-robin over the loops; the connection is created on its loop's thread.
void Server::adopt(int fd, std::string peer, http::Listener listener) {
  net::IoLoop& loop = *loops_[nextLoop_.fetch_add(1, std::memory_order_relaxed) % loops_.size()];
  const size_t queueLimit = config_.limits.sendQueueBytes;
  loop.post([this, &loop, fd, peer = std::move(peer), queueLimit, listener]() mutable {
    auto& connection =
        loop.adopt(std::make_unique<net::Connection>(loop, fd, std::move(peer), queueLimit));
    connection.start(std::make_unique<http::HttpConnection>(*context_, connection, listener));
  });
}

// Scrape thread: the gauges and totals that live outside the per-loop recorders.
metrics::NodeSnapshot Server::metricsSnapshot(const bus::Bus& bus) const {
  metrics::NodeSnapshot snapshot;
  snapshot.connections = static_cast<double>(context_->sessions.load());
  snapshot.rooms = static_cast<double>(directory_.roomCount());
  snapshot.busUp = bus.status().up;
  for (const auto& loop : loops_) {
    snapshot.bytesReceived += loop->io().bytesReceived.value();
    snapshot.bytesSent += loop->io().bytesSent.value();
    snapshot.sendQueueBytes +=
        static_cast<uint64_t>(std::max<int64_t>(0, loop->io().queuedBytes.load()));
  }
  snapshot.bus = bus.counters();
  return snapshot;
}

size_t Server::openConnections() const {
  size_t total = 0;
  for (const auto& loop : loops_) total += loop->connectionCount();
  return total;
}

void Server::drain(std::chrono::milliseconds spread, std::chrono::milliseconds deadline) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  context_->draining = true;
  if (!started_) return;
  const size_t ticks = std::max<size_t>(1, static_cast<size_t>(spread / kDrainBatchInterval));
  for (size_t tick = 0; tick < ticks && context_->sessions.load() > 0; ++tick) {
    if (tick > 0) std::this_thread::sleep_until(start + tick * kDrainBatchInterval);
    for (auto& loop : loops_) {
      net::IoLoop* raw = loop.get();
      raw->post([raw, ticksLeft = ticks - tick] { drainBatch(*raw, ticksLeft); });
    }
  }
  while (context_->sessions.load() > 0 && Clock::now() - start < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void Server::drainBatch(net::IoLoop& loop, size_t ticksLeft) {
  thread_local std::minstd_rand random{std::random_device{}()};
  std::uniform_int_distribution<uint64_t> hint(0, kReconnectJitterMs);
  // Counting HTTP connections too overestimates the batch a little; the last tick takes the rest.
  size_t open = 0;
  loop.forEachConnection([&open](net::Connection& c) {
    if (c.state() == net::Connection::State::kOpen) ++open;
  });
  size_t quota = (open + ticksLeft - 1) / ticksLeft;
  loop.forEachConnection([&](net::Connection& c) {
    if (quota == 0 || c.state() != net::Connection::State::kOpen) return;
    if (c.protocol()->onDrain(c, hint(random))) --quota;
  });
}

void Server::stop(uint64_t graceMs) {
  if (stopped_) return;
  stopped_ = true;
  clusterStats_->stop();  // first: HeimdallrApp stops the bus right after this returns
  users_->stop();
  context_->draining = true;
  acceptor_->stop();
  if (apiAcceptor_) apiAcceptor_->stop();
  if (!started_) return;
  for (auto& loop : loops_) {
    net::IoLoop* raw = loop.get();
    raw->post([raw] { raw->forEachConnection([](net::Connection& c) { c.shutdown(); }); });
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(graceMs);
  while (openConnections() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto& loop : loops_) loop->stop();
}

}  // namespace heimdallr::server
