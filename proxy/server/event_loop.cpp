#include "proxy/server/event_loop.hpp"

#include <exception>

namespace spendgate::proxy {

void runCatching(net::io_context& context, const std::function<void(const std::string&)>& report) {
  for (;;) {
    try {
      context.run();
      return;
    } catch (const std::exception& e) {
      report(std::string("a connection failed: ") + e.what());
    } catch (...) {
      report("a connection failed: unknown exception");
    }
  }
}

}  // namespace spendgate::proxy
