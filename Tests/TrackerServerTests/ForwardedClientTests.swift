import Testing
import TrackerCore
import TrackerProtocol

@testable import TrackerServer

/// Which address a request counts as from, given the proxies trusted (pure: no sockets).
@Suite struct ForwardedClientTests {
    static let proxies = ["10.0.0.0/8", "::1/128", "192.0.2.1"].map { AddressRange($0)! }

    /// A head as the parser reads it from a trusted proxy's request.
    func head(xff: String? = nil, realIP: String? = nil) -> HTTPRequestHead {
        let text =
            "GET /announce HTTP/1.1\r\n" + (xff.map { "X-Forwarded-For: \($0)\r\n" } ?? "")
            + (realIP.map { "X-Real-IP: \($0)\r\n" } ?? "") + "\r\n"
        let parsed = Array(text.utf8).withUnsafeBytes { HTTPHeadParser.parse($0, maxHeadBytes: 8192, forwardingHeaders: true) }
        guard case .head(let h, _) = parsed else { fatalError("unparsed: \(text)") }
        return h
    }

    func resolve(_ h: HTTPRequestHead, from remote: String, trusted: [AddressRange] = proxies) -> String {
        ForwardedClient.resolve(h, remote: ForwardedClient.address(Array(remote.utf8)[...])!, trusted: trusted).description
    }

    @Test func aTrustedProxyNamesTheRightmostUntrustedEntry() {
        // What the client wrote itself (1.1.1.1) is left of what the proxies appended.
        #expect(resolve(head(xff: "1.1.1.1, 203.0.113.7, 10.1.2.3"), from: "10.0.0.1") == "203.0.113.7")
        #expect(resolve(head(xff: "203.0.113.7"), from: "192.0.2.1") == "203.0.113.7")
        // Every entry a trusted proxy: the leftmost.
        #expect(resolve(head(xff: "10.9.9.9, 10.1.1.1"), from: "10.0.0.1") == "10.9.9.9")
        // IPv6 clients, with or without brackets and ports; IPv4 ones with a port.
        #expect(resolve(head(xff: "[2001:db8::5]:51413"), from: "::1") == "2001:db8::5")
        #expect(resolve(head(xff: "2001:db8::6"), from: "::1") == "2001:db8::6")
        #expect(resolve(head(xff: " 198.51.100.4:6881 "), from: "::1") == "198.51.100.4")
    }

    @Test func anIPv4ClientProxiedOverIPv6IsAnIPv4Peer() {
        let a = ForwardedClient.resolve(
            head(xff: "::ffff:198.51.100.9"), remote: .v6(IPv6Address(high: 0, low: 1)), trusted: Self.proxies)
        #expect(a == .v4(IPv4Address(198, 51, 100, 9)))
        let b = ForwardedClient.resolve(head(xff: "198.51.100.9"), remote: .v6(IPv6Address(high: 0, low: 1)), trusted: Self.proxies)
        #expect(b == .v4(IPv4Address(198, 51, 100, 9)))
    }

    @Test func anyoneElsesHeadersCountForNothing() {
        #expect(resolve(head(xff: "203.0.113.7", realIP: "203.0.113.8"), from: "198.51.100.1") == "198.51.100.1")
        #expect(resolve(head(xff: "203.0.113.7"), from: "10.0.0.1", trusted: []) == "10.0.0.1")
        // A trusted proxy that sent neither header: its own address.
        #expect(resolve(head(), from: "10.0.0.1") == "10.0.0.1")
    }

    @Test func xRealIPWhenTheListCannotBeRead() {
        #expect(resolve(head(realIP: "203.0.113.8"), from: "10.0.0.1") == "203.0.113.8")
        #expect(resolve(head(xff: "203.0.113.7", realIP: "203.0.113.8"), from: "10.0.0.1") == "203.0.113.7")
        // The entry to read is not an address: the list is not trusted further.
        #expect(resolve(head(xff: "203.0.113.7, unknown", realIP: "203.0.113.8"), from: "10.0.0.1") == "203.0.113.8")
        #expect(resolve(head(xff: "203.0.113.7,", realIP: "203.0.113.8"), from: "10.0.0.1") == "203.0.113.8")
        #expect(resolve(head(xff: "garbage"), from: "10.0.0.1") == "10.0.0.1")
        #expect(resolve(head(realIP: "not an address"), from: "10.0.0.1") == "10.0.0.1")
        // A malformed entry left of the client is never read.
        #expect(resolve(head(xff: "%%%, 203.0.113.7"), from: "10.0.0.1") == "203.0.113.7")
    }

    @Test(arguments: [
        "", " ", "0.0.0.0", "::", "[::]", "1.2.3.4:", "1.2.3.4:123456", "1.2.3.4:x", "[2001:db8::1", "[2001:db8::1]x", "2001:db8::1:99999:",
        "256.1.1.1", "1.2.3", "[1.2.3.4]:5", "example.org", String(repeating: "1", count: 65),
    ])
    func entriesThatAreNotAddresses(_ entry: String) {
        #expect(ForwardedClient.address(Array(entry.utf8)[...]) == nil, "\(entry)")
    }

    @Test func aTrustedProxyIsHeldToNoPerSourceConnectionLimit() {
        #expect(Self.proxies.sourceKey(.v4(IPv4Address(10, 0, 0, 1))) == nil)
        #expect(Self.proxies.sourceKey(.v4(IPv4Address(11, 0, 0, 1))) == SourceKey(.v4(IPv4Address(11, 0, 0, 1))))
    }
}
