#pragma once

#include <string>

namespace spendgate::core {

/** Who a request is charged to: the key dimension and the attribution dimensions of SPEC §2. */
struct Identity {
  std::string key;  // virtual key id, "fp_<12 hex>" for a passthrough key, "anonymous" for none
  std::string user;
  std::string team;
  std::string customer;
  std::string agent;
  bool virtual_key = false;  // the caller used one of our keys: inject the provider key
};

}  // namespace spendgate::core
