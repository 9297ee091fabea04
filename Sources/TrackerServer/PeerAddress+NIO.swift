import NIOCore
import TrackerCore

#if canImport(Glibc)
    import Glibc
#endif

extension PeerAddress {
    /// The peer address of a connection's remote end; IPv4-mapped IPv6 becomes IPv4.
    init?(_ address: SocketAddress?) {
        switch address {
        case .v4(let a): self.init(a.address.sin_addr)
        case .v6(let a): self.init(a.address.sin6_addr)
        default: return nil
        }
    }

    /// The remote end as `accept` wrote it; nil for a family other than IPv4 and IPv6.
    init?(_ storage: sockaddr_storage) {
        let family = Int32(storage.ss_family)
        let address: PeerAddress? = withUnsafeBytes(of: storage) { raw in
            switch family {
            case AF_INET: PeerAddress(raw.loadUnaligned(as: sockaddr_in.self).sin_addr)
            case AF_INET6: PeerAddress(raw.loadUnaligned(as: sockaddr_in6.self).sin6_addr)
            default: nil
            }
        }
        guard let address else { return nil }
        self = address
    }

    private init(_ a: in_addr) { self = .v4(IPv4Address(UInt32(bigEndian: a.s_addr))) }

    private init(_ a: in6_addr) {
        // Every IPv4 client of the dual-stack socket arrives here as ::ffff:a.b.c.d, so no
        // temporary array: read the two big-endian halves in place.
        let (high, low) = withUnsafeBytes(of: a) { raw in
            (
                UInt64(bigEndian: raw.loadUnaligned(as: UInt64.self)),
                UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            )
        }
        self = PeerAddress.v6(IPv6Address(high: high, low: low)).normalized
    }
}
