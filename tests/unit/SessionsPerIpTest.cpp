#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "server/SessionsPerIp.h"

namespace heimdallr::server {

TEST(SessionsPerIp, refuses_past_the_limit_per_address_and_frees_on_release) {
  SessionsPerIp counts;
  EXPECT_TRUE(counts.tryAcquire("10.0.0.1", 2));
  EXPECT_TRUE(counts.tryAcquire("10.0.0.1", 2));
  EXPECT_FALSE(counts.tryAcquire("10.0.0.1", 2));
  EXPECT_TRUE(counts.tryAcquire("10.0.0.2", 2));  // another address has its own budget
  counts.release("10.0.0.1", 2);
  EXPECT_EQ(1u, counts.count("10.0.0.1"));
  EXPECT_TRUE(counts.tryAcquire("10.0.0.1", 2));
}

TEST(SessionsPerIp, forgets_an_address_whose_last_session_ended) {
  SessionsPerIp counts;
  ASSERT_TRUE(counts.tryAcquire("10.0.0.1", 1));
  counts.release("10.0.0.1", 1);
  EXPECT_EQ(0u, counts.count("10.0.0.1"));
  counts.release("10.0.0.1", 1);  // an extra release is harmless
  EXPECT_TRUE(counts.tryAcquire("10.0.0.1", 1));
}

TEST(SessionsPerIp, limit_zero_tracks_nothing) {
  SessionsPerIp counts;
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(counts.tryAcquire("10.0.0.1", 0));
  EXPECT_EQ(0u, counts.count("10.0.0.1"));
}

TEST(SessionsPerIp, concurrent_acquires_never_exceed_the_limit) {
  SessionsPerIp counts;
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (counts.tryAcquire("10.0.0.1", 100)) ++granted;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(100, granted.load());
  EXPECT_EQ(100u, counts.count("10.0.0.1"));
}

TEST(SessionsPerIp, peer_names_give_their_address) {
  EXPECT_EQ("127.0.0.1", ipOfPeer("127.0.0.1:51234"));
  EXPECT_EQ("::1", ipOfPeer("[::1]:51234"));
  EXPECT_EQ("fe80::1%eth0", ipOfPeer("[fe80::1%eth0]:80"));
  EXPECT_EQ("?", ipOfPeer("?"));
}

}  // namespace heimdallr::server
