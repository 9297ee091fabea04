// The socket calls the plain-HTTP acceptor needs that Swift's Glibc module leaves out.
#ifndef CSQUALLSOCKETS_SHIM_H
#define CSQUALLSOCKETS_SHIM_H

// accept4(2) is declared only under _GNU_SOURCE, which Swift's Glibc module is built without;
// glibc exports the symbol either way. Declared without <sys/socket.h>, whose types would then
// belong to this module instead of Glibc's: `addr` is a struct sockaddr, `addrlen` a socklen_t.
extern int accept4(int sockfd, void *addr, unsigned int *addrlen, int flags);

#endif
