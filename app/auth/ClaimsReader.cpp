#include "auth/ClaimsReader.h"

#include <Poco/JSON/Handler.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/ParseHandler.h>
#include <Poco/JSON/Parser.h>

#include <cmath>
#include <sstream>

namespace heimdallr::auth {

namespace {

enum class Slot { kIgnored, kSub, kIss, kExp, kNbf, kIat, kAud, kRooms, kPub, kInfo };

Slot slotOf(const std::string& key) {
  if (key == "sub") return Slot::kSub;
  if (key == "exp") return Slot::kExp;
  if (key == "rooms") return Slot::kRooms;
  if (key == "pub") return Slot::kPub;
  if (key == "iat") return Slot::kIat;
  if (key == "nbf") return Slot::kNbf;
  if (key == "iss") return Slot::kIss;
  if (key == "aud") return Slot::kAud;
  if (key == "info") return Slot::kInfo;
  return Slot::kIgnored;
}

// Parser thread (whoever calls readClaims). Events arrive in document order; depth 1 is the
// payload object's own members, where every claim lives.
class ClaimsHandler : public Poco::JSON::Handler {
 public:
  RawClaims claims;
  bool rootIsObject = false;

  void reset() override {}

  void startObject() override {
    if (capturing()) return forward([](auto& h) { h.startObject(); }, +1);
    if (depth_ == 0) rootIsObject = true;
    if (depth_ == 1 && slot_ == Slot::kInfo) {
      info_ = new Poco::JSON::ParseHandler;
      infoDepth_ = 0;
      return forward([](auto& h) { h.startObject(); }, +1);
    }
    scalarAtMember();
    ++depth_;
  }

  void endObject() override {
    if (capturing()) {
      forward([](auto& h) { h.endObject(); }, -1);
      if (infoDepth_ == 0) finishInfo();
      return;
    }
    --depth_;
  }

  void startArray() override {
    if (capturing()) return forward([](auto& h) { h.startArray(); }, +1);
    if (depth_ == 1 && (slot_ == Slot::kAud || slot_ == Slot::kRooms || slot_ == Slot::kPub)) {
      list_ = slot_;
      strings_.clear();
      listOk_ = true;
    } else if (depth_ == 2 && list_ != Slot::kIgnored) {
      listOk_ = false;  // a list inside a list of strings
    } else {
      scalarAtMember();
    }
    ++depth_;
  }

  void endArray() override {
    if (capturing()) return forward([](auto& h) { h.endArray(); }, -1);
    --depth_;
    if (depth_ == 1 && list_ != Slot::kIgnored) {
      auto& claim = listClaim(list_);
      if (listOk_) {
        claim.value = std::move(strings_);
        claim.wrongShape = false;
      } else {
        claim.value.reset();
        claim.wrongShape = true;
      }
      strings_ = {};
      list_ = Slot::kIgnored;
    }
  }

  void key(const std::string& k) override {
    if (capturing()) return forward([&](auto& h) { h.key(k); }, 0);
    if (depth_ == 1) slot_ = slotOf(k);
  }

  void null() override {
    other([](auto& h) { h.null(); });
  }
  void value(bool b) override {
    other([&](auto& h) { h.value(b); });
  }
  void value(int v) override {
    number(static_cast<double>(v), [&](auto& h) { h.value(v); });
  }
  void value(unsigned v) override {
    number(static_cast<double>(v), [&](auto& h) { h.value(v); });
  }
  void value(Poco::Int64 v) override {
    number(static_cast<double>(v), [&](auto& h) { h.value(v); });
  }
  void value(Poco::UInt64 v) override {
    number(static_cast<double>(v), [&](auto& h) { h.value(v); });
  }
  void value(double v) override {
    number(v, [&](auto& h) { h.value(v); });
  }

  void value(const std::string& text) override {
    if (capturing()) return forward([&](auto& h) { h.value(text); }, 0);
    if (depth_ == 2 && list_ != Slot::kIgnored) {
      strings_.push_back(text);
      return;
    }
    if (depth_ != 1) return;
    switch (slot_) {
      case Slot::kSub:
        set(claims.sub, text);
        break;
      case Slot::kIss:
        set(claims.iss, text);
        break;
      case Slot::kAud:
        set(claims.aud, std::vector<std::string>{text});
        break;
      default:
        scalarAtMember();
    }
  }

 private:
  bool capturing() const { return !info_.isNull(); }

  template <typename Event>
  void forward(Event event, int nesting) {
    event(*info_);
    infoDepth_ += nesting;
  }

  void finishInfo() {
    std::ostringstream compact;
    info_->asVar().extract<Poco::JSON::Object::Ptr>()->stringify(compact);
    set(claims.info, compact.str());
    info_ = nullptr;
  }

  template <typename T>
  static void set(Claim<T>& claim, T value) {
    claim.value = std::move(value);
    claim.wrongShape = false;
  }

  template <typename T>
  static void wrong(Claim<T>& claim) {
    claim.value.reset();
    claim.wrongShape = true;
  }

  Claim<std::vector<std::string>>& listClaim(Slot slot) {
    return slot == Slot::kAud ? claims.aud : slot == Slot::kRooms ? claims.rooms : claims.pub;
  }

  // A member of the payload got a value of a shape its claim does not take.
  void scalarAtMember() {
    if (depth_ == 2 && list_ != Slot::kIgnored) {
      listOk_ = false;
      return;
    }
    if (depth_ != 1) return;
    switch (slot_) {
      case Slot::kSub:
        return wrong(claims.sub);
      case Slot::kIss:
        return wrong(claims.iss);
      case Slot::kExp:
        return wrong(claims.exp);
      case Slot::kNbf:
        return wrong(claims.nbf);
      case Slot::kIat:
        return wrong(claims.iat);
      case Slot::kAud:
      case Slot::kRooms:
      case Slot::kPub:
        return wrong(listClaim(slot_));
      case Slot::kInfo:
        return wrong(claims.info);
      case Slot::kIgnored:
        return;
    }
  }

  template <typename Event>
  void other(Event event) {
    if (capturing()) return forward(event, 0);
    scalarAtMember();
  }

  template <typename Event>
  void number(double v, Event event) {
    if (capturing()) return forward(event, 0);
    Claim<double>* claim = depth_ != 1           ? nullptr
                           : slot_ == Slot::kExp ? &claims.exp
                           : slot_ == Slot::kNbf ? &claims.nbf
                           : slot_ == Slot::kIat ? &claims.iat
                                                 : nullptr;
    if (!claim) return scalarAtMember();
    // Defensive: POCO 1.11 refuses a number that overflows a double (1e400) before we see it.
    if (std::isfinite(v)) {
      set(*claim, v);
    } else {
      wrong(*claim);
    }
  }

  int depth_ = 0;
  Slot slot_ = Slot::kIgnored;  // the member whose value comes next (depth 1)
  Slot list_ = Slot::kIgnored;  // the list claim being collected (depth 2)
  std::vector<std::string> strings_;
  bool listOk_ = true;
  Poco::SharedPtr<Poco::JSON::ParseHandler> info_;  // set while inside `info`
  int infoDepth_ = 0;
};

}  // namespace

std::optional<RawClaims> readClaims(const std::string& json, int maxDepth) {
  try {
    Poco::SharedPtr<ClaimsHandler> handler = new ClaimsHandler;
    Poco::JSON::Parser parser(handler);
    parser.setDepth(static_cast<unsigned>(maxDepth));
    // Not setAllowNullByte(false): POCO 1.11 implements it as a search for the six characters
    // \u0000 in the raw text, so it also refuses an escaped backslash followed by "u0000". A NUL
    // in a claim is refused after decoding (isJsonText) instead.
    parser.parse(json);
    if (!handler->rootIsObject) return std::nullopt;
    return std::move(handler->claims);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace heimdallr::auth
