#pragma once

#include <boost/json/value.hpp>
#include <string>

// JSON text whose numbers are plain decimals. Boost.JSON writes every double in scientific
// notation ("1E-2", "8.465E-3", "0E0"); SPEC §5 wants money as a number of USD that reads like one.
namespace spendgate::core {

/**
 * @return `number` as a plain decimal: the shortest digits that read back as the same double,
 * never an exponent ("0.01", "0.8465", "500", "-0.5"). NaN and infinities, which JSON cannot
 * hold, are "null".
 */
std::string plainNumber(double number);

/** @return `value` serialized like boost::json::serialize, but doubles as plainNumber(). */
std::string serializePlain(const boost::json::value& value);

}  // namespace spendgate::core
