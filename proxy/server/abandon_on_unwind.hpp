#pragma once

#include <string_view>

namespace spendgate::proxy {

/**
 * Lives in the frame of the coroutine a connection runs in, and abandons the connection
 * (`session.abandon(why)`, which must not throw) if that frame is destroyed before dismiss().
 *
 * An exception thrown inside a composed operation (a parser callback inside Beast's read) never
 * reaches the coroutine: asio unwinds the operation's handler through the event loop, and the
 * coroutine's frames are destroyed with it. Without this the connection would be abandoned only
 * when its last shared_ptr goes, which a pending operation holding one (the client disconnect
 * watch) puts off until the client leaves: the request's reservation held and its ledger line
 * unwritten until then. Abandoning closes the client socket, which ends such an operation too.
 */
template <class Session>
class AbandonOnUnwind {
public:
  AbandonOnUnwind(Session& session, std::string_view why) : session_(&session), why_(why) {}
  ~AbandonOnUnwind() {
    if (session_ != nullptr) session_->abandon(why_);
  }
  AbandonOnUnwind(const AbandonOnUnwind&) = delete;
  AbandonOnUnwind& operator=(const AbandonOnUnwind&) = delete;

  /** The connection ended as it should (or was abandoned already): nothing to do at the end. */
  void dismiss() { session_ = nullptr; }

private:
  Session* session_;
  std::string_view why_;  // static text
};

}  // namespace spendgate::proxy
