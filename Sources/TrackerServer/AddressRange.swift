public import TrackerCore

/// An address block in CIDR form (`10.0.0.0/8`, `::1/128`) or a single address, for the
/// `stats.allow` list. An IPv4 block also matches the same addresses mapped into IPv6
/// (`::ffff:a.b.c.d`), as a dual-stack socket reports IPv4 clients.
public struct AddressRange: Sendable, Equatable, CustomStringConvertible {
    public let address: PeerAddress
    public let prefixLength: Int
    public let description: String

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let host = String(parts[0])
        guard let a = PeerAddress(text: host.utf8) else { return nil }
        address = a
        let bits = if case .v4 = address { 32 } else { 128 }
        if parts.count == 2 {
            guard let n = Int(parts[1]), (0...bits).contains(n) else { return nil }
            prefixLength = n
        } else {
            prefixLength = bits
        }
        description = parts.count == 2 ? text : "\(host)/\(bits)"
    }

    public func contains(_ a: PeerAddress) -> Bool {
        switch (address, a) {
        case (.v4(let net), .v4(let ip)):
            return prefixLength == 0 || (net.value ^ ip.value) >> (32 - prefixLength) == 0
        case (.v4, .v6(let ip)):
            return ip.mappedIPv4.map { contains(.v4($0)) } ?? false
        case (.v6(let net), .v6(let ip)):
            let n = prefixLength
            if n == 0 { return true }
            if n <= 64 { return (net.high ^ ip.high) >> (64 - n) == 0 }
            return net.high == ip.high && (n == 128 ? net.low == ip.low : (net.low ^ ip.low) >> (128 - n) == 0)
        case (.v6, .v4):
            return false
        }
    }

    /// Loopback only: the default of `stats.allow`.
    public static let loopback = [AddressRange("127.0.0.0/8")!, AddressRange("::1/128")!]
}

extension Sequence<AddressRange> {
    /// Whether any of the ranges holds `a` (`stats.allow`, `announce.quota_exempt`).
    public func covers(_ a: PeerAddress) -> Bool { contains { $0.contains(a) } }
}
