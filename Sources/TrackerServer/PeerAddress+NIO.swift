import NIOCore
import TrackerCore

extension PeerAddress {
    /// The peer address of a connection's remote end; IPv4-mapped IPv6 becomes IPv4.
    init?(_ address: SocketAddress?) {
        switch address {
        case .v4(let a):
            self = .v4(IPv4Address(UInt32(bigEndian: a.address.sin_addr.s_addr)))
        case .v6(let a):
            // Every IPv4 client of the dual-stack socket arrives here as ::ffff:a.b.c.d, so no
            // temporary array: read the two big-endian halves in place.
            let (high, low) = withUnsafeBytes(of: a.address.sin6_addr) { raw in
                (
                    UInt64(bigEndian: raw.loadUnaligned(as: UInt64.self)),
                    UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
                )
            }
            self = PeerAddress.v6(IPv6Address(high: high, low: low)).normalized
        default:
            return nil
        }
    }
}
