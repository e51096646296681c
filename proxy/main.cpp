// spendgate: a transparent reverse proxy that meters and enforces LLM API spend.
#include <csignal>
#include <string>
#include <vector>

#include "proxy/cli/command_line.hpp"

int main(int argc, char** argv) {
  // A client that disconnects must not kill the process through a write to its socket.
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  return spendgate::proxy::CommandLine(std::move(args)).run();
}
