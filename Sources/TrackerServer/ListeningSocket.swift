import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// A bound, listening TCP socket that the plain-HTTP acceptor's threads block in `accept` on.
/// Its one owner is the `HTTPAcceptor`; `close()` may be called once.
final class ListeningSocket: Sendable {
    let descriptor: CInt
    /// The address bound, with the real port when port 0 was asked for.
    let bound: SocketAddress

    /// Seconds the kernel may hold a new connection until its first bytes arrive, so that
    /// `accept` hands over connections whose request can be read at once (`TCP_DEFER_ACCEPT`).
    static let deferAcceptSeconds: CInt = 1

    /// Binds `address` (resolving a host name) and listens with `backlog`; throws `IOError`.
    /// `[::]` is one dual-stack socket for IPv4 and IPv6 whatever the system's default.
    init(_ address: ListenAddress, backlog: CInt) throws {
        let target = try SocketAddress.makeAddressResolvingHost(address.host, port: address.port)
        let family = target.protocol.rawValue
        let fd = socket(family, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
        do {
            try Self.set(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR")
            if family == AF_INET6 { try Self.set(fd, CInt(IPPROTO_IPV6), IPV6_V6ONLY, 0, "IPV6_V6ONLY") }
            try Self.set(fd, CInt(IPPROTO_TCP), TCP_DEFER_ACCEPT, Self.deferAcceptSeconds, "TCP_DEFER_ACCEPT")
            let rc = target.withSockAddr { bind(fd, $0, socklen_t($1)) }
            guard rc == 0 else { throw IOError(errnoCode: errno, reason: "bind") }
            guard listen(fd, backlog) == 0 else { throw IOError(errnoCode: errno, reason: "listen") }
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let named = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            guard named == 0 else { throw IOError(errnoCode: errno, reason: "getsockname") }
            let port = Int(UInt16(bigEndian: withUnsafeBytes(of: &storage) { $0.loadUnaligned(fromByteOffset: 2, as: UInt16.self) }))
            guard let ip = target.ipAddress else { throw IOError(errnoCode: EINVAL, reason: "no IP address") }
            bound = try SocketAddress(ipAddress: ip, port: port)
        } catch {
            Glibc.close(fd)
            throw error
        }
        descriptor = fd
    }

    /// Takes over a socket systemd passed (already bound and listening): blocking, as the
    /// accepting threads expect, and with `TCP_DEFER_ACCEPT` as a socket of Squall's own.
    init(adopting inherited: InheritedSocket) throws {
        let fd = inherited.descriptor
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0 else { throw IOError(errnoCode: errno, reason: "fcntl") }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        try Self.set(fd, CInt(IPPROTO_TCP), TCP_DEFER_ACCEPT, Self.deferAcceptSeconds, "TCP_DEFER_ACCEPT")
        (descriptor, bound) = (fd, inherited.address)
    }

    private static func set(_ fd: CInt, _ level: CInt, _ name: CInt, _ value: CInt, _ what: String) throws {
        var v = value
        guard setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<CInt>.size)) == 0 else {
            throw IOError(errnoCode: errno, reason: "setsockopt \(what)")
        }
    }

    /// Wakes every thread blocked in `accept` on this socket (they get `EINVAL`) and stops new
    /// connections from queueing.
    func wake() { _ = shutdown(descriptor, CInt(SHUT_RDWR)) }

    func close() { _ = Glibc.close(descriptor) }
}
