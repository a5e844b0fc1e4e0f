#include "auth/HmacSha2.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <stdexcept>

namespace heimdallr::auth {

struct HmacSha2::Contexts {
  EVP_MAC* mac = nullptr;
  std::array<EVP_MAC_CTX*, 3> keyed{};  // SHA-256, SHA-384, SHA-512

  ~Contexts() {
    for (EVP_MAC_CTX* context : keyed) EVP_MAC_CTX_free(context);
    EVP_MAC_free(mac);
  }
};

namespace {

int slotOf(int bits) { return bits == 256 ? 0 : bits == 384 ? 1 : bits == 512 ? 2 : -1; }

std::atomic<uint64_t> nextId{1};

// This thread's working copies of one HmacSha2's keyed contexts, made on first use and then
// re-initialised per call (EVP_MAC_init without a key keeps the key): a verify allocates nothing.
// One instance at a time: a thread that alternates between two (briefly, around a SIGHUP reload)
// copies afresh at each switch. A copy of an old secret stays in a thread's memory after a reload
// until that thread next verifies a token.
struct ThreadCopies {
  uint64_t owner = 0;
  std::array<EVP_MAC_CTX*, 3> contexts{};

  void reset(uint64_t id) {
    for (EVP_MAC_CTX*& context : contexts) {
      EVP_MAC_CTX_free(context);
      context = nullptr;
    }
    owner = id;
  }
  ~ThreadCopies() { reset(0); }
};
thread_local ThreadCopies threadCopies;

}  // namespace

HmacSha2::HmacSha2(const std::string& secret)
    : contexts_(std::make_unique<Contexts>()), id_(nextId.fetch_add(1)) {
  contexts_->mac = EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr);
  if (!contexts_->mac) throw std::runtime_error("OpenSSL has no HMAC");
  const std::array<const char*, 3> digests = {"SHA256", "SHA384", "SHA512"};
  for (size_t i = 0; i < digests.size(); ++i) {
    EVP_MAC_CTX* context = EVP_MAC_CTX_new(contexts_->mac);
    contexts_->keyed[i] = context;
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digests[i]), 0),
        OSSL_PARAM_construct_end()};
    if (!context || !EVP_MAC_init(context, reinterpret_cast<const unsigned char*>(secret.data()),
                                  secret.size(), params)) {
      throw std::runtime_error(std::string("OpenSSL cannot key HMAC-") + digests[i]);
    }
  }
}

HmacSha2::~HmacSha2() = default;

std::string HmacSha2::sign(int bits, std::string_view input) const {
  const int slot = slotOf(bits);
  if (slot < 0) return {};
  ThreadCopies& copies = threadCopies;
  if (copies.owner != id_) copies.reset(id_);
  EVP_MAC_CTX*& context = copies.contexts[static_cast<size_t>(slot)];
  // EVP_MAC_CTX_dup only reads its source, so every thread may copy the shared one at once.
  if (!context) context = EVP_MAC_CTX_dup(contexts_->keyed[static_cast<size_t>(slot)]);
  if (!context) return {};
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t length = 0;
  const bool ok =
      EVP_MAC_init(context, nullptr, 0, nullptr) &&
      EVP_MAC_update(context, reinterpret_cast<const unsigned char*>(input.data()), input.size()) &&
      EVP_MAC_final(context, out, &length, sizeof out);
  if (!ok) {
    // A copy in an unknown state is not reused; the next call copies afresh.
    EVP_MAC_CTX_free(context);
    context = nullptr;
    ERR_clear_error();
    return {};
  }
  return std::string(reinterpret_cast<const char*>(out), length);
}

}  // namespace heimdallr::auth
