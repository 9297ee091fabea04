import NIOCore
import TrackerCore

extension PeerAddress {
    /// The peer address of a connection's remote end; IPv4-mapped IPv6 becomes IPv4.
    init?(_ address: SocketAddress?) {
        switch address {
        case .v4(let a):
            self = .v4(IPv4Address(UInt32(bigEndian: a.address.sin_addr.s_addr)))
        case .v6(let a):
            let bytes = withUnsafeBytes(of: a.address.sin6_addr) { Array($0) }
            guard let v6 = IPv6Address(bytes) else { return nil }
            self = PeerAddress.v6(v6).normalized
        default:
            return nil
        }
    }
}
