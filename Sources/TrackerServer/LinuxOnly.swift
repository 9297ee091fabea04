#if !os(Linux)
    #error("Squall runs on Linux only: Glibc, epoll, accept4(2), Debian's hiredis and OpenSSL")
#endif
