#include <gtest/gtest.h>

#include "support/SanitizerReport.h"

namespace heimdallr::test {

TEST(SanitizerReport, is_empty_for_an_ordinary_server_log) {
  EXPECT_EQ("", sanitizerReport("heimdallr listening on 127.0.0.1:4242\nbus up\nbye\n"));
}

TEST(SanitizerReport, starts_at_the_line_of_an_address_sanitizer_error) {
  const std::string log =
      "heimdallr listening on 127.0.0.1:4242\n"
      "==123==ERROR: AddressSanitizer: heap-use-after-free on address 0x6020\n"
      "    #0 0x55 in heimdallr::net::Connection::flush()\n";
  EXPECT_EQ(log.substr(log.find("==123==")), sanitizerReport(log));
}

TEST(SanitizerReport, finds_leak_undefined_behaviour_and_thread_sanitizer_reports) {
  EXPECT_NE("", sanitizerReport("==7==ERROR: LeakSanitizer: detected memory leaks\n"));
  EXPECT_NE("", sanitizerReport("app/ws/FrameDecoder.cpp:12:3: runtime error: shift exponent\n"));
  EXPECT_NE("", sanitizerReport("WARNING: ThreadSanitizer: data race (pid=9)\n"));
  EXPECT_NE("", sanitizerReport("FATAL: ThreadSanitizer: unexpected memory mapping\n"));
}

TEST(SanitizerReport, is_cut_to_the_given_size) {
  const std::string log = "x\nWARNING: ThreadSanitizer: data race\n" + std::string(1000, 'y');
  EXPECT_EQ(64u, sanitizerReport(log, 64).size());
}

}  // namespace heimdallr::test
