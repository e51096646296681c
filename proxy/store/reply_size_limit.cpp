#include "proxy/store/reply_size_limit.hpp"

#include <hiredis/read.h>

namespace spendgate::proxy {

namespace {

// hiredis' own reply functions (the same table for every reader), captured once.
using CreateArray = void* (*)(const redisReadTask*, int);
CreateArray default_create_array = nullptr;
thread_local long long refused_array_size = -1;

void* boundedCreateArray(const redisReadTask* task, int elements) {
  if (elements < 0 || elements > kMaxRedisReplyElements) {
    refused_array_size = elements;
    return nullptr;  // the reader fails
  }
  return default_create_array(task, elements);
}

const redisReplyObjectFunctions* boundedFunctions(const redisReplyObjectFunctions& defaults) {
  static const redisReplyObjectFunctions bounded = [&defaults] {
    redisReplyObjectFunctions table = defaults;
    default_create_array = table.createArray;
    table.createArray = &boundedCreateArray;
    return table;
  }();
  return &bounded;
}

}  // namespace

void limitReplySize(redisReader& reader) {
  if (reader.fn == nullptr || reader.fn->createArray == nullptr) return;  // no objects built
  if (reader.fn->createArray == &boundedCreateArray) return;
  // hiredis keeps a pointer to the table, never writes it: ours may stand in for its own.
  reader.fn = const_cast<redisReplyObjectFunctions*>(boundedFunctions(*reader.fn));
}

long long takeRefusedArraySize() {
  const long long size = refused_array_size;
  refused_array_size = -1;
  return size;
}

}  // namespace spendgate::proxy
