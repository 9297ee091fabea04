#include "CSquallRedisShims.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(HIREDIS_MAJOR) && HIREDIS_MAJOR >= 1
/* hiredis 1.x bounds arrays itself (maxelements). */
redisReader *squall_redis_reader_create(size_t max_elements) {
    redisReader *r = redisReaderCreate();
    if (r != NULL) r->maxelements = (long long)max_elements;
    return r;
}
#else

/* Each reply is a redisReply as freeReplyObject expects: calloc'd, strings NUL-terminated,
 * arrays with a calloc'd vector. A reply inside an array is stored at its index in the parent
 * (the parent's task holds the parent reply). The reader's privdata, which it copies into
 * every task, carries the element cap. */

static void *attach(const redisReadTask *task, redisReply *reply) {
    if (task->parent != NULL) {
        redisReply *parent = task->parent->obj;
        parent->element[task->idx] = reply;
    }
    return reply;
}

static redisReply *new_reply(int type) {
    redisReply *reply = calloc(1, sizeof(redisReply));
    if (reply != NULL) reply->type = type;
    return reply;
}

static void *create_string(const redisReadTask *task, char *str, size_t len) {
    redisReply *reply = new_reply(task->type);
    if (reply == NULL) return NULL;
    reply->str = malloc(len + 1);
    if (reply->str == NULL) {
        free(reply);
        return NULL;
    }
    memcpy(reply->str, str, len);
    reply->str[len] = '\0';
    reply->len = len;
    return attach(task, reply);
}

static void *create_array(const redisReadTask *task, int elements) {
    size_t cap = (size_t)(uintptr_t)task->privdata;
    if (elements < 0 || (size_t)elements > cap) return NULL;
    redisReply *reply = new_reply(REDIS_REPLY_ARRAY);
    if (reply == NULL) return NULL;
    if (elements > 0) {
        reply->element = calloc((size_t)elements, sizeof(redisReply *));
        if (reply->element == NULL) {
            free(reply);
            return NULL;
        }
    }
    reply->elements = (size_t)elements;
    return attach(task, reply);
}

static void *create_integer(const redisReadTask *task, long long value) {
    redisReply *reply = new_reply(REDIS_REPLY_INTEGER);
    if (reply == NULL) return NULL;
    reply->integer = value;
    return attach(task, reply);
}

static void *create_nil(const redisReadTask *task) {
    redisReply *reply = new_reply(REDIS_REPLY_NIL);
    if (reply == NULL) return NULL;
    return attach(task, reply);
}

static redisReplyObjectFunctions bounded = {create_string, create_array, create_integer, create_nil, freeReplyObject};

redisReader *squall_redis_reader_create(size_t max_elements) {
    redisReader *r = redisReaderCreateWithFunctions(&bounded);
    if (r != NULL) r->privdata = (void *)(uintptr_t)max_elements;
    return r;
}
#endif
