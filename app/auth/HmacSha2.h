#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace heimdallr::auth {

/// HMAC-SHA256/384/512 (RFC 2104) under one secret, computed by OpenSSL's EVP_MAC. The secret is
/// keyed into one context per digest at construction; each thread works on its own copy of it,
/// re-initialised per call, so the key schedule is not redone per token, a call allocates only
/// its result (while a thread keeps to one instance), and concurrent calls share nothing mutable.
///
/// OpenSSL directly rather than POCO: Poco::HMACEngine over Poco::SHA2Engine is portable C, 1.8 us
/// for a 170-byte token here against 0.5 us (SHA extensions); over Poco::Crypto::DigestEngine it
/// is 3.3 us (a digest lookup and context per engine). OpenSSL is already linked, through
/// Poco::Crypto.
///
/// Thread-safe once constructed: sign() is const and the loops call it at once.
class HmacSha2 {
 public:
  /// Throws std::runtime_error when OpenSSL cannot set up a context.
  explicit HmacSha2(const std::string& secret);
  ~HmacSha2();
  HmacSha2(const HmacSha2&) = delete;
  HmacSha2& operator=(const HmacSha2&) = delete;

  /// The MAC of `input` with `bits` = 256, 384 or 512; "" for other widths or when OpenSSL
  /// fails (which can then match no signature).
  std::string sign(int bits, std::string_view input) const;

 private:
  struct Contexts;
  std::unique_ptr<Contexts> contexts_;
  uint64_t id_;  // unique per instance: which one a thread's working copies belong to
};

}  // namespace heimdallr::auth
