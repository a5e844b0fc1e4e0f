#pragma once

#include <string>
#include <utility>
#include <vector>

namespace Poco::JSON {
class Object;
}

namespace heimdallr::http {

/// A JSON object as a response body: compact, one line, newline-terminated. Thread-safe (pure).
std::string jsonBody(const Poco::JSON::Object& object);

/// A complete HTTP/1.1 response, serialized by Poco::Net::HTTPResponse. Thread-safe (pure).
/// `extraHeaders` are added as given; Content-Length is always set so keep-alive works.
std::string makeHttpResponse(
    int status, const std::string& contentType, const std::string& body, bool keepAlive,
    const std::vector<std::pair<std::string, std::string>>& extraHeaders = {});

/// A JSON error body: {"error": reason}.
std::string makeErrorResponse(
    int status, const std::string& reason, bool keepAlive,
    const std::vector<std::pair<std::string, std::string>>& extraHeaders = {});

}  // namespace heimdallr::http
