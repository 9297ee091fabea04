#ifndef SQUALL_REDIS_SHIMS_H
#define SQUALL_REDIS_SHIMS_H
#include <stddef.h>
#include <hiredis/hiredis.h>

/// A hiredis reply reader that builds the same reply trees as hiredis's own, except that an
/// array header announcing more than `max_elements` elements is a protocol error (the reader
/// reports out of memory) instead of an allocation of that many pointers: hiredis 0.14 would
/// calloc 16 GB for the 15 bytes "*2147483647\r\n". Free with redisReaderFree; replies with
/// freeReplyObject.
redisReader *squall_redis_reader_create(size_t max_elements);

#endif
