#pragma once

#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>

namespace heimdallr::bench {

/// A minimal streaming JSON writer for the generator's report: objects, arrays, strings, numbers.
/// Commas are inserted automatically. Not thread-safe.
class JsonWriter {
 public:
  JsonWriter& beginObject() { return open('{'); }
  JsonWriter& endObject() { return close('}'); }
  JsonWriter& beginArray() { return open('['); }
  JsonWriter& endArray() { return close(']'); }

  JsonWriter& key(std::string_view k) {
    comma();
    string(k);
    out_ += ':';
    afterKey_ = true;
    return *this;
  }
  JsonWriter& value(std::string_view s) {
    comma();
    string(s);
    return *this;
  }
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(bool b) {
    comma();
    out_ += b ? "true" : "false";
    return *this;
  }
  JsonWriter& value(double d) {
    comma();
    if (!std::isfinite(d)) {
      out_ += "null";
    } else {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.6g", d);
      out_ += buf;
    }
    return *this;
  }
  JsonWriter& value(unsigned long long u) {
    comma();
    out_ += std::to_string(u);
    return *this;
  }
  JsonWriter& value(long long i) {
    comma();
    out_ += std::to_string(i);
    return *this;
  }
  JsonWriter& value(unsigned long u) { return value(static_cast<unsigned long long>(u)); }
  JsonWriter& value(unsigned u) { return value(static_cast<unsigned long long>(u)); }
  JsonWriter& value(long i) { return value(static_cast<long long>(i)); }
  JsonWriter& value(int i) { return value(static_cast<long long>(i)); }

  template <typename T>
  JsonWriter& field(std::string_view k, T v) {
    key(k);
    return value(v);
  }

  const std::string& str() const { return out_; }

 private:
  JsonWriter& open(char c) {
    comma();
    out_ += c;
    first_ = true;
    return *this;
  }
  JsonWriter& close(char c) {
    out_ += c;
    first_ = false;
    return *this;
  }
  void comma() {
    if (afterKey_) {
      afterKey_ = false;
      return;
    }
    if (!first_) out_ += ',';
    first_ = false;
  }
  void string(std::string_view s) {
    out_ += '"';
    for (char c : s) {
      if (c == '"' || c == '\\') {
        out_ += '\\';
        out_ += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out_ += buf;
      } else {
        out_ += c;
      }
    }
    out_ += '"';
  }

  std::string out_;
  bool first_ = true;
  bool afterKey_ = false;
};

}  // namespace heimdallr::bench
