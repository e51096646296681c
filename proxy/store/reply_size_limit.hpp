#pragma once

#include <cstddef>

struct redisReader;

namespace spendgate::proxy {

/**
 * The most elements one Redis reply array may announce. spendgate's own replies hold a few
 * (a batch is at most 64 requests); hiredis 0.14 has no limit of its own (`maxelements` came
 * with 1.0) and allocates the announced number of element pointers before any element arrives,
 * so a broken or hostile peer answering `*2147483647` would take 16 GiB.
 */
inline constexpr int kMaxRedisReplyElements = 1 << 20;

/**
 * Makes `reader` refuse an array reply that announces more than kMaxRedisReplyElements: the
 * reader fails (hiredis reports "Out of memory") and the connection is dropped and redialled, as
 * for any protocol error, instead of allocating what the peer announced.
 */
void limitReplySize(redisReader& reader);

/**
 * @return the element count of the last array this thread's readers refused, and forgets it
 *         (-1 when none was): hiredis reports the refusal as "Out of memory", this says why.
 */
long long takeRefusedArraySize();

}  // namespace spendgate::proxy
