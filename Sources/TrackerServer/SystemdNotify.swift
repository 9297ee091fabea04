public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// systemd's readiness protocol (`sd_notify(3)`) without libsystemd: one datagram per change of
/// state to the socket in `$NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace). The
/// unit's `Type=notify` waits for `READY=1`, sent once every listener is bound; `STOPPING=1`
/// says the tracker is draining. Without `$NOTIFY_SOCKET` (not started by systemd) there is none.
public struct SystemdNotifier: Sendable {
    /// The socket address's path bytes; a leading 0 for the abstract namespace.
    let path: [UInt8]

    public init?(environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard let value = environment["NOTIFY_SOCKET"], !value.isEmpty else { return nil }
        var bytes = Array(value.utf8)
        if bytes[0] == UInt8(ascii: "@") {
            bytes[0] = 0
        } else if bytes[0] != UInt8(ascii: "/") {
            return nil  // vsock and other forms are not for a tracker's host.
        }
        guard bytes.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else { return nil }
        path = bytes
    }

    /// Sends `state` (`READY=1`, `STOPPING=1`, `STATUS=...`, lines joined by newlines);
    /// whether the datagram went out. Never blocks: the socket is systemd's.
    @discardableResult
    public func notify(_ state: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.enumerated() { raw[i] = b }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
        let message = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { a in
            a.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT), sa, length) }
            }
        }
        return sent == message.count
    }
}
