#include <gtest/gtest.h>

#include "http/RequestHead.h"

namespace heimdallr::http {

TEST(RequestHead, splits_the_target_into_path_and_query) {
  RequestHead head;
  ASSERT_EQ("", parseRequestHead("GET /stats?scope=cluster HTTP/1.1\r\nHost: x\r\n\r\n", head));
  EXPECT_EQ("/stats", head.path);
  ASSERT_EQ(1u, head.query.size());
  EXPECT_EQ("scope", head.query[0].first);
  EXPECT_EQ("cluster", head.query[0].second);
  EXPECT_FALSE(head.hasBody);
}

TEST(RequestHead, a_garbage_request_line_is_an_error_not_an_exception) {
  RequestHead head;
  EXPECT_NE("", parseRequestHead("\x01\x02\x03\r\n\r\n", head));
}

TEST(RequestHead, a_non_numeric_content_length_is_an_error_not_an_exception) {
  RequestHead head;
  EXPECT_EQ("malformed Content-Length",
            parseRequestHead("GET / HTTP/1.1\r\nContent-Length: lots\r\n\r\n", head));
}

TEST(RequestHead, a_request_with_a_body_says_so) {
  RequestHead chunked;
  ASSERT_EQ("", parseRequestHead("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", chunked));
  EXPECT_TRUE(chunked.hasBody);
  RequestHead sized;
  ASSERT_EQ("", parseRequestHead("GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\n", sized));
  EXPECT_TRUE(sized.hasBody);
}

TEST(RequestHead, a_bad_percent_escape_in_the_target_is_an_error) {
  RequestHead head;
  EXPECT_EQ("malformed request target", parseRequestHead("GET /a%zz HTTP/1.1\r\n\r\n", head));
}

TEST(RequestHead, room_ids_come_from_single_segment_paths) {
  EXPECT_EQ("lobby", roomIdOf("/lobby"));
  EXPECT_EQ("42", roomIdOf("/42"));
  EXPECT_EQ("", roomIdOf("/"));
  EXPECT_EQ("", roomIdOf(""));
  EXPECT_EQ("", roomIdOf("/a/b"));
  EXPECT_EQ("", roomIdOf("/a.b"));
  EXPECT_EQ("", roomIdOf("lobby"));
  EXPECT_EQ("", roomIdOf("/" + std::string(65, 'a')));
}

}  // namespace heimdallr::http
