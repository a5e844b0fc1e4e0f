#include "http/HttpResponse.h"

#include <Poco/JSON/Object.h>
#include <Poco/Net/HTTPResponse.h>

#include <sstream>

namespace heimdallr::http {

std::string jsonBody(const Poco::JSON::Object& object) {
  std::ostringstream out;
  object.stringify(out);
  out << '\n';
  return out.str();
}

std::string makeHttpResponse(int status, const std::string& contentType, const std::string& body,
                             bool keepAlive,
                             const std::vector<std::pair<std::string, std::string>>& extraHeaders) {
  Poco::Net::HTTPResponse response(Poco::Net::HTTPMessage::HTTP_1_1,
                                   static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
  response.setContentType(contentType);
  response.setContentLength(static_cast<std::streamsize>(body.size()));
  response.setKeepAlive(keepAlive);
  response.set("Cache-Control", "no-store");
  for (const auto& [name, value] : extraHeaders) response.set(name, value);
  std::ostringstream out;
  response.write(out);
  out << body;
  return out.str();
}

std::string makeErrorResponse(
    int status, const std::string& reason, bool keepAlive,
    const std::vector<std::pair<std::string, std::string>>& extraHeaders) {
  Poco::JSON::Object body;
  body.set("error", reason);
  return makeHttpResponse(status, "application/json", jsonBody(body), keepAlive, extraHeaders);
}

}  // namespace heimdallr::http
