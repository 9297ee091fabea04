// Wrappers for OpenSSL's function-like macros, which Swift cannot import. Nothing else.
#ifndef SQUALL_TLS_SHIMS_H
#define SQUALL_TLS_SHIMS_H
#include <openssl/ssl.h>

int squall_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version);
int squall_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version);
long squall_SSL_CTX_set_mode(SSL_CTX *ctx, long mode);
long squall_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode);
long squall_SSL_CTX_set_tlsext_servername_callback(SSL_CTX *ctx, int (*cb)(SSL *, int *, void *));
long squall_SSL_CTX_set_tlsext_servername_arg(SSL_CTX *ctx, void *arg);
uint64_t squall_SSL_OP_NO_RENEGOTIATION(void);
uint64_t squall_SSL_OP_NO_COMPRESSION(void);
void squall_OPENSSL_free(void *p);
#endif
