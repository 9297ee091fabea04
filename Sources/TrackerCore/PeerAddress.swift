#if canImport(Glibc)
    import Glibc
#endif

/// An IPv4 address, kept as its four bytes in network order.
public struct IPv4Address: Hashable, Sendable, CustomStringConvertible {
    /// The address bytes in network order packed big-endian: `a.b.c.d` is `a<<24|b<<16|c<<8|d`.
    public var value: UInt32
    public init(_ value: UInt32) { self.value = value }
    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }
    public var bytes: [UInt8] {
        [
            UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8),
            UInt8(truncatingIfNeeded: value),
        ]
    }
    public var description: String { bytes.map(String.init).joined(separator: ".") }
}

/// An IPv6 address, kept as two big-endian 64-bit halves.
public struct IPv6Address: Hashable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64
    public init(high: UInt64, low: UInt64) { (self.high, self.low) = (high, low) }
    /// Returns nil unless `bytes` holds exactly 16 bytes.
    public init?(_ bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        var h: UInt64 = 0, l: UInt64 = 0
        for i in 0..<8 { h = h << 8 | UInt64(bytes[i]) }
        for i in 8..<16 { l = l << 8 | UInt64(bytes[i]) }
        (high, low) = (h, l)
    }
    public var bytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64($0))) }
            + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64($0))) }
    }
    /// The embedded IPv4 address when this is `::ffff:a.b.c.d`.
    public var mappedIPv4: IPv4Address? {
        guard high == 0, low >> 32 == 0xFFFF else { return nil }
        return IPv4Address(UInt32(truncatingIfNeeded: low))
    }
    public var description: String {
        if let v4 = mappedIPv4 { return "::ffff:\(v4)" }
        let groups = (0..<8).map { i -> UInt16 in
            let half = i < 4 ? high : low
            return UInt16(truncatingIfNeeded: half >> (48 - 16 * UInt64(i % 4)))
        }
        // RFC 5952: compress the longest run (length >= 2) of zero groups.
        var best = (start: -1, length: 0), run = (start: -1, length: 0)
        for (i, g) in groups.enumerated() {
            if g == 0 {
                run = run.start < 0 ? (i, 1) : (run.start, run.length + 1)
                if run.length > best.length { best = run }
            } else {
                run = (-1, 0)
            }
        }
        func hex(_ r: ArraySlice<UInt16>) -> String { r.map { String($0, radix: 16) }.joined(separator: ":") }
        guard best.length >= 2 else { return hex(groups[...]) }
        return hex(groups[..<best.start]) + "::" + hex(groups[(best.start + best.length)...])
    }
}

/// A peer's address family and address, as the tracker saw it on the connection.
public enum PeerAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(IPv4Address)
    case v6(IPv6Address)

    /// IPv4-mapped IPv6 addresses (what a dual-stack socket reports for IPv4 clients) become IPv4.
    public var normalized: PeerAddress {
        if case .v6(let a) = self, let v4 = a.mappedIPv4 { return .v4(v4) }
        return self
    }

    /// 4 bytes for IPv4, 16 for IPv6: the form BEP 23/7 compact lists and BEP 24 use.
    public var bytes: [UInt8] {
        switch self {
        case .v4(let a): a.bytes
        case .v6(let a): a.bytes
        }
    }

    public var description: String {
        switch self {
        case .v4(let a): a.description
        case .v6(let a): a.description
        }
    }

    /// An address in text (`203.0.113.7`, `2001:db8::7`), as `inet_pton` reads it (strict: no
    /// leading zeros in IPv4, no brackets, no port); IPv6 is taken as written (not normalized).
    public init?(text: some Collection<UInt8>) {
        guard (2...45).contains(text.count) else { return nil }
        var cString = [CChar](repeating: 0, count: text.count + 1)
        for (i, c) in text.enumerated() {
            guard c != 0 else { return nil }
            cString[i] = CChar(bitPattern: c)
        }
        var v4 = in_addr(), v6 = in6_addr()
        if inet_pton(AF_INET, cString, &v4) == 1 {
            self = .v4(IPv4Address(UInt32(bigEndian: v4.s_addr)))
        } else if inet_pton(AF_INET6, cString, &v6) == 1, let a = IPv6Address(withUnsafeBytes(of: v6) { Array($0) }) {
            self = .v6(a)
        } else {
            return nil
        }
    }
}

/// Where a peer accepts connections.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public var address: PeerAddress
    public var port: UInt16
    public init(address: PeerAddress, port: UInt16) { (self.address, self.port) = (address, port) }
    public var description: String {
        switch address {
        case .v4(let a): "\(a):\(port)"
        case .v6(let a): "[\(a)]:\(port)"
        }
    }
}
