#include "http/RequestHead.h"

#include <Poco/MemoryStream.h>

#include "room/RoomId.h"

namespace heimdallr::http {

std::string parseRequestHead(std::string_view bytes, RequestHead& head) {
  try {
    Poco::MemoryInputStream in(bytes.data(), bytes.size());
    head.request.read(in);
  } catch (const Poco::Exception& e) {
    return "malformed request: " + e.message();
  }
  try {
    head.chunked = head.request.getChunkedTransferEncoding();
    if (head.request.hasContentLength()) {
      const Poco::Int64 length = head.request.getContentLength64();
      if (length < 0) return "malformed Content-Length";
      head.contentLength = static_cast<uint64_t>(length);
    }
    head.hasBody = head.contentLength > 0 || head.chunked;
  } catch (const Poco::Exception&) {
    return "malformed Content-Length";
  }
  try {
    const Poco::URI uri(head.request.getURI());
    head.path = uri.getPath();
    head.query = uri.getQueryParameters();
  } catch (const Poco::Exception&) {
    return "malformed request target";
  }
  return {};
}

std::string roomIdOf(std::string_view path) {
  if (path.size() < 2 || path.front() != '/') return {};
  const std::string_view id = path.substr(1);
  return room::isValidRoomId(id) ? std::string(id) : std::string();
}

}  // namespace heimdallr::http
