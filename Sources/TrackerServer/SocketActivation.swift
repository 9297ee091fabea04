public import Foundation
public import NIOCore
import TrackerCore

#if canImport(Glibc)
    import Glibc
#endif

/// A listening socket handed over by systemd (`sd_listen_fds(3)`: `$LISTEN_FDS` descriptors from
/// 3 on, for this process when `$LISTEN_PID` is its pid, named by `$LISTEN_FDNAMES`), so the
/// socket stays open while the tracker restarts and a client connecting meanwhile waits in its
/// backlog instead of being refused.
public struct InheritedSocket: Sendable {
    public let descriptor: CInt
    /// `FileDescriptorName=` in the socket unit (`unknown` when unnamed).
    public let name: String
    /// Where it listens.
    public let address: SocketAddress

    /// The sockets systemd passed, checked to be listening TCP sockets; nil when none were passed
    /// (then, or when they are not for this process, the configured addresses are bound as
    /// usual). The variables are removed from the environment, as `sd_listen_fds(1)` does.
    /// Throws a one-line description for a descriptor that is not a listening TCP socket.
    public static func take(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> [InheritedSocket]? {
        guard let pid = environment["LISTEN_PID"].flatMap(Int32.init), pid == getpid(),
            let count = environment["LISTEN_FDS"].flatMap(Int.init), count > 0
        else { return nil }
        for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] { unsetenv(name) }
        let names = environment["LISTEN_FDNAMES"].map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) } ?? []
        return try (0..<count).map { i in
            let fd = CInt(3 + i)
            let name = i < names.count && !names[i].isEmpty ? names[i] : "unknown"
            return try InheritedSocket(descriptor: fd, name: name)
        }
    }

    /// Adopts `descriptor` (a socket the caller owns): checks it is a listening TCP socket and
    /// reads its address.
    public init(descriptor: CInt, name: String) throws {
        var listening: CInt = 0, type: CInt = 0
        var size = socklen_t(MemoryLayout<CInt>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) == 0,
            getsockopt(descriptor, SOL_SOCKET, SO_TYPE, &type, &size) == 0
        else { throw SocketActivationError(description: "socket activation: descriptor \(descriptor) (\(name)) is not a socket") }
        guard listening != 0, type == CInt(SOCK_STREAM.rawValue) else {
            throw SocketActivationError(description: "socket activation: descriptor \(descriptor) (\(name)) is not a listening TCP socket")
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard named == 0, storage.ss_family == sa_family_t(AF_INET) || storage.ss_family == sa_family_t(AF_INET6) else {
            throw SocketActivationError(description: "socket activation: descriptor \(descriptor) (\(name)) is not an IPv4 or IPv6 socket")
        }
        let address: SocketAddress =
            storage.ss_family == sa_family_t(AF_INET)
            ? withUnsafeBytes(of: storage) { SocketAddress($0.load(as: sockaddr_in.self), host: "") }
            : withUnsafeBytes(of: storage) { SocketAddress($0.load(as: sockaddr_in6.self), host: "") }
        (self.descriptor, self.name, self.address) = (descriptor, name, address)
    }

    /// Whether this socket is the configured `listen` address (same IP and port).
    func isAt(_ listen: ListenAddress) -> Bool {
        guard let mine = ListenAddress(bound: address), mine.port == listen.port,
            let a = PeerAddress(text: mine.host.utf8), let b = PeerAddress(text: listen.host.utf8)
        else { return false }
        return a == b
    }
}

public struct SocketActivationError: Error, CustomStringConvertible {
    public var description: String
}

/// Which listener each inherited socket is: the configured one at its address (so its scheme and
/// `proxy_protocol` are the configuration's, and that address is not bound again); one at no
/// configured address is HTTPS when named `https` (or `https-proxy`, with PROXY headers) and
/// plain HTTP otherwise (`http-proxy`: with PROXY headers). `https` nil: no HTTPS is served.
struct ListenerPlan {
    struct Entry {
        var address: ListenAddress
        var secure: Bool
        var inherited: InheritedSocket?
    }

    static func make(http: [ListenAddress], https: [ListenAddress]?, inherited: [InheritedSocket]) -> [Entry] {
        var entries = http.map { Entry(address: $0, secure: false) } + (https ?? []).map { Entry(address: $0, secure: true) }
        for socket in inherited {
            if let i = entries.firstIndex(where: { $0.inherited == nil && socket.isAt($0.address) }) {
                entries[i].inherited = socket
                continue
            }
            var address = ListenAddress(bound: socket.address) ?? ListenAddress(host: "?", port: 0)
            address.proxyProtocol = socket.name.hasSuffix("-proxy")
            let secure = socket.name.hasPrefix("https")
            entries.append(Entry(address: address, secure: secure, inherited: socket))
        }
        return entries
    }
}
