import Foundation
import TrackerCore

#if canImport(Glibc)
    import Glibc
#endif

/// Ports for the servers the tests start (redis-server, MariaDB, real BitTorrent clients).
public enum FreePort {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Ports already handed out by this process: never handed out twice, so two servers that
    /// the tests start side by side (a cluster node and its bus port, say) cannot be given the
    /// same port before either has bound it.
    private static let handedOut = Locked(Set<Int>())

    /// A loopback TCP port nothing listens on right now (the kernel's pick for a bind to port 0),
    /// and one this process has not handed out before.
    public static func next() throws -> Int {
        for _ in 0..<1000 {
            let port = try pick()
            if handedOut.withLock({ $0.insert(port).inserted }) { return port }
        }
        throw Failure(description: "no free port this process has not handed out already")
    }

    private static func pick() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw Failure(description: "no free port: errno \(errno)") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
