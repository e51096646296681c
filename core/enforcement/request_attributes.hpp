#pragma once

#include <string>

namespace spendgate::core {

/**
 * What enforcement knows about one request: the dimensions budgets and rate limits match on and
 * charge to (SPEC §2 `scope`/`match`). An empty string means the request lacks that dimension.
 */
struct RequestAttributes {
  std::string provider;
  std::string model;
  std::string key;  // virtual key id or passthrough fingerprint
  std::string user;
  std::string team;
  std::string customer;
  std::string agent;
};

}  // namespace spendgate::core
