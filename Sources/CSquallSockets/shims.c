// Built with _GNU_SOURCE, under which glibc declares accept4(2) (Swift's Glibc module is built
// without it).
#define _GNU_SOURCE
#include <sys/socket.h>

#include "CSquallSockets.h"

_Static_assert(sizeof(socklen_t) == sizeof(unsigned int), "socklen_t is an unsigned int");

int squall_accept4(int sockfd, void *addr, unsigned int *addrlen, int flags) {
    return accept4(sockfd, (struct sockaddr *)addr, (socklen_t *)addrlen, flags);
}
