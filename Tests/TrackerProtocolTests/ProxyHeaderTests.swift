import Testing
import TrackerCore

@testable import TrackerProtocol

/// The PROXY protocol header, versions 1 and 2, from the bytes an L4 balancer sends first.
@Suite struct ProxyHeaderTests {
    func parse(_ bytes: [UInt8]) -> ProxyHeader.Outcome { bytes.withUnsafeBytes { ProxyHeader.parse($0) } }
    func parse(_ text: String) -> ProxyHeader.Outcome { parse(Array(text.utf8)) }
    func endpoint(_ address: String, _ port: UInt16) -> Endpoint {
        Endpoint(address: PeerAddress(text: Array(address.utf8))!.normalized, port: port)
    }

    /// A version 2 header: `command` 1 is PROXY, 0 LOCAL.
    static func v2(command: UInt8 = 1, family: UInt8, addresses: [UInt8], tlvs: [UInt8] = []) -> [UInt8] {
        let length = addresses.count + tlvs.count
        return ProxyHeader.v2Signature + [0x20 | command, family, UInt8(length >> 8), UInt8(length & 0xFF)] + addresses + tlvs
    }
    static let v4Addresses: [UInt8] = [203, 0, 113, 7, 10, 0, 0, 1, 0xC8, 0xD5, 0x01, 0xBB]  // :51413 -> :443
    static let v6Addresses: [UInt8] =
        [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [7] + [UInt8](repeating: 0, count: 15) + [1] + [
            0x1A, 0xE1, 0x01, 0xBB,
        ]

    @Test func version1() {
        let line = "PROXY TCP4 203.0.113.7 10.0.0.1 51413 443\r\n"
        #expect(parse(line + "GET /announce") == .header(client: endpoint("203.0.113.7", 51413), consumed: line.utf8.count))
        let six = "PROXY TCP6 2001:db8::7 2001:db8::1 6881 443\r\n"
        #expect(parse(six) == .header(client: endpoint("2001:db8::7", 6881), consumed: six.utf8.count))
        // An IPv4 client the proxy writes as mapped into IPv6 is an IPv4 client.
        let mapped = "PROXY TCP6 ::ffff:203.0.113.8 ::1 6881 443\r\n"
        #expect(parse(mapped) == .header(client: endpoint("203.0.113.8", 6881), consumed: mapped.utf8.count))
        #expect(parse("PROXY UNKNOWN\r\n") == .header(client: nil, consumed: 15))
        #expect(parse("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nGET") == .header(client: nil, consumed: 35))
    }

    @Test(arguments: [
        "PROXY TCP4 203.0.113.7 10.0.0.1 51413 443\n",  // no CR
        "PROXY TCP4 203.0.113.7 10.0.0.1 51413\r\n",
        "PROXY TCP4 203.0.113.7 10.0.0.1 51413 443 9\r\n",
        "PROXY TCP4 203.0.113.7  10.0.0.1 51413 443\r\n",
        "PROXY TCP4 2001:db8::7 10.0.0.1 51413 443\r\n",  // family mismatch
        "PROXY TCP6 203.0.113.7 2001:db8::1 51413 443\r\n",
        "PROXY TCP4 203.0.113.7 10.0.0.1 65536 443\r\n",
        "PROXY TCP4 203.0.113.7 10.0.0.1 051413 443\r\n",
        "PROXY TCP4 203.0.113.07 10.0.0.1 51413 443\r\n",
        "PROXY TCP4 203.0.113.7 10.0.0.1 -1 443\r\n",
        "PROXY UDP4 203.0.113.7 10.0.0.1 51413 443\r\n",
        "PROXY tcp4 203.0.113.7 10.0.0.1 51413 443\r\n",
        "proxy TCP4 203.0.113.7 10.0.0.1 51413 443\r\n",
        "GET /announce HTTP/1.1\r\n\r\n",
        "\u{16}\u{03}\u{01}",  // a TLS ClientHello where a header was expected
    ])
    func malformedVersion1IsRefused(_ text: String) {
        #expect(parse(text) == .invalid, "\(text)")
    }

    @Test func aVersion1LineWithoutEndIsRefusedAtItsLimit() {
        let long = "PROXY UNKNOWN " + String(repeating: "x", count: 200)
        #expect(parse(String(long.prefix(ProxyHeader.maxV1Bytes - 1))) == .incomplete)
        #expect(parse(String(long.prefix(ProxyHeader.maxV1Bytes))) == .invalid)
    }

    @Test func version2() {
        let four = Self.v2(family: 0x11, addresses: Self.v4Addresses)
        #expect(parse(four + Array("GET".utf8)) == .header(client: endpoint("203.0.113.7", 51413), consumed: 28))
        let six = Self.v2(family: 0x21, addresses: Self.v6Addresses)
        #expect(parse(six) == .header(client: endpoint("2001:db8::7", 6881), consumed: 52))
        // TLVs after the addresses are skipped.
        let tlvs: [UInt8] = [0x04, 0x00, 0x03, 0x61, 0x62, 0x63]
        let withTLVs = Self.v2(family: 0x11, addresses: Self.v4Addresses, tlvs: tlvs)
        #expect(parse(withTLVs) == .header(client: endpoint("203.0.113.7", 51413), consumed: 34))
        // LOCAL (a health check): the addresses are not read, the connection's stand.
        #expect(parse(Self.v2(command: 0, family: 0x11, addresses: Self.v4Addresses)) == .header(client: nil, consumed: 28))
        #expect(parse(Self.v2(command: 0, family: 0x00, addresses: [])) == .header(client: nil, consumed: 16))
        // UNSPEC, UDP, a UNIX socket: nothing usable, the connection's address stands.
        #expect(parse(Self.v2(family: 0x00, addresses: [])) == .header(client: nil, consumed: 16))
        #expect(parse(Self.v2(family: 0x31, addresses: [UInt8](repeating: 0, count: 216))) == .header(client: nil, consumed: 232))
    }

    @Test func malformedVersion2IsRefused() {
        var badSignature = Self.v2(family: 0x11, addresses: Self.v4Addresses)
        badSignature[11] = 0x0B
        #expect(parse(badSignature) == .invalid)
        var version1Byte = Self.v2(family: 0x11, addresses: Self.v4Addresses)
        version1Byte[12] = 0x11
        #expect(parse(version1Byte) == .invalid)
        var badCommand = Self.v2(family: 0x11, addresses: Self.v4Addresses)
        badCommand[12] = 0x22
        #expect(parse(badCommand) == .invalid)
        #expect(parse(Self.v2(family: 0x11, addresses: Array(Self.v4Addresses.prefix(8)))) == .invalid, "an address block too short")
        #expect(parse(Self.v2(family: 0x21, addresses: Self.v4Addresses)) == .invalid)
        #expect(parse(Self.v2(family: 0x41, addresses: Self.v4Addresses)) == .invalid, "an unknown family")
        // Longer than Squall reads: refused from the fixed part, before the rest arrives.
        let huge = ProxyHeader.v2Signature + [0x21, 0x11, 0xFF, 0xFF] + Self.v4Addresses
        #expect(parse(huge) == .invalid)
    }

    @Test func everyPrefixIsIncomplete() {
        let headers = [
            Array("PROXY TCP4 203.0.113.7 10.0.0.1 51413 443\r\n".utf8), Array("PROXY UNKNOWN\r\n".utf8),
            Self.v2(family: 0x11, addresses: Self.v4Addresses), Self.v2(family: 0x21, addresses: Self.v6Addresses, tlvs: [1, 0, 1, 9]),
        ]
        for h in headers {
            for n in 0..<h.count { #expect(parse(Array(h.prefix(n))) == .incomplete, "\(n) of \(h.count)") }
            guard case .header(_, let consumed) = parse(h) else {
                Issue.record("not a header: \(h)")
                continue
            }
            #expect(consumed == h.count)
        }
    }
}
