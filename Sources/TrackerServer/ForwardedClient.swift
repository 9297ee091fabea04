import TrackerCore
import TrackerProtocol

/// The client a request is from when a trusted proxy (`trusted_proxies`) forwarded it.
///
/// Only a connection from a trusted proxy may name another address: then the rightmost
/// `X-Forwarded-For` entry that is not itself a trusted proxy is the client (each proxy appends
/// the address it was connected from, so everything left of the first untrusted one is what
/// the client wrote); when every entry is trusted, the leftmost. Without that header (or when
/// one of the entries it has to read is not an address) `X-Real-IP`, and without a usable one
/// the connection's own address. An IPv4 address mapped into IPv6 is an IPv4 client, so an
/// IPv4 client proxied over IPv6 is an IPv4 peer. From any other connection the headers count
/// for nothing (a client cannot choose its own address).
enum ForwardedClient {
    static func resolve(_ head: HTTPRequestHead, remote: PeerAddress, trusted: [AddressRange]) -> PeerAddress {
        guard !trusted.isEmpty, head.forwardedFor != nil || head.realIP != nil, trusted.covers(remote) else { return remote }
        if let list = head.forwardedFor, let client = rightmostUntrusted(list, trusted: trusted) { return client }
        if let one = head.realIP, let client = address(one[...]) { return client }
        return remote
    }

    /// Reads `X-Forwarded-For` from its right; nil when an entry it must read is not an address.
    static func rightmostUntrusted(_ list: [UInt8], trusted: [AddressRange]) -> PeerAddress? {
        var end = list.endIndex
        var last: PeerAddress?
        while end > list.startIndex {
            let start = list[..<end].lastIndex(of: UInt8(ascii: ",")).map { $0 + 1 } ?? list.startIndex
            guard let a = address(list[start..<end]) else { return nil }
            if !trusted.covers(a) { return a }
            last = a
            end = start > list.startIndex ? start - 1 : list.startIndex
        }
        return last
    }

    /// One entry: `1.2.3.4`, `1.2.3.4:port`, `2001:db8::1`, `[2001:db8::1]` or
    /// `[2001:db8::1]:port`, spaces around it allowed; nil for anything else, an unspecified
    /// address (`0.0.0.0`, `::`) included.
    static func address(_ entry: ArraySlice<UInt8>) -> PeerAddress? {
        var s = entry.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        while let c = s.last, c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") { s = s.dropLast() }
        guard !s.isEmpty, s.count <= 64 else { return nil }
        var host = s
        let bracketed = s.first == UInt8(ascii: "[")
        if bracketed {
            guard let close = s.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            let rest = s[(close + 1)...]
            guard rest.isEmpty || isPort(rest) else { return nil }
            host = s[(s.startIndex + 1)..<close]
        } else if s.filter({ $0 == UInt8(ascii: ":") }).count == 1, let colon = s.firstIndex(of: UInt8(ascii: ":")) {
            guard isPort(s[colon...]) else { return nil }
            host = s[..<colon]
        }
        guard let written = PeerAddress(text: host) else { return nil }
        // Brackets hold IPv6 only (`[1.2.3.4]` is no address).
        if bracketed, case .v4 = written { return nil }
        switch written.normalized {
        case .v4(let a) where a.value == 0: return nil
        case .v6(let a) where a.high == 0 && a.low == 0: return nil
        case let a: return a
        }
    }

    /// `:` and one to five digits.
    private static func isPort(_ s: ArraySlice<UInt8>) -> Bool {
        guard s.first == UInt8(ascii: ":") else { return false }
        let digits = s.dropFirst()
        return (1...5).contains(digits.count) && digits.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }
}

extension [AddressRange] {
    /// Where a connection from `a` counts for `http.max_connections_per_source`: nowhere for
    /// a trusted proxy (it carries many clients' connections).
    func sourceKey(_ a: PeerAddress) -> SourceKey? { covers(a) ? nil : SourceKey(a) }

    /// Whether a connection from `remote` may send a PROXY protocol header (nil: no address).
    func trusts(_ remote: PeerAddress?) -> Bool { remote.map(covers) ?? false }
}
