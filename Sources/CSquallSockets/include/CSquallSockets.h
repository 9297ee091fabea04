// The socket calls the plain-HTTP acceptor needs that Swift's Glibc module leaves out, as
// prefixed shims (swift-nio's CNIOLinux does the same for accept4 and, later here, for
// recvmmsg/sendmmsg). The header names no glibc type: `addr` is a struct sockaddr, `addrlen`
// a socklen_t, so the types Swift sees stay Glibc's.
#ifndef CSQUALLSOCKETS_H
#define CSQUALLSOCKETS_H

// accept4(2): accepts with SOCK_NONBLOCK / SOCK_CLOEXEC set in the same call.
int squall_accept4(int sockfd, void *addr, unsigned int *addrlen, int flags);

#endif
