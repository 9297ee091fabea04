import Foundation
import Testing
import TrackerCore
import TrackerProtocol
import TrackerServer
import TrackerTLS
import TrackerTestSupport

/// `proxy_protocol` listeners over real sockets: each connection starts with a PROXY header
/// (v1 or v2) from a trusted proxy naming the client, on HTTP (the accepting thread's one-shot
/// path, a header split across reads, kept connections) and on HTTPS (the header before the
/// handshake, from Debian's haproxy); headers from anyone else, malformed ones and silence are
/// refused.
@Suite struct ProxyProtocolTests {
    /// A tracker with a plain listener on [::]:0 and a PROXY listener on `proxyHost`:0.
    static func withProxyListener(
        proxyHost: String = "127.0.0.1", trusted: [String] = ["127.0.0.1", "::1"], tls: ReloadableTLSContexts? = nil,
        _ configure: @escaping (inout SquallConfig) -> Void = { _ in }, _ body: (RunningTracker, Int) async throws -> Void
    ) async throws {
        try await withRunningTracker(tls: tls) { c in
            c.trustedProxies = trusted.map { AddressRange($0)! }
            let proxied = ListenAddress(host: proxyHost, port: 0, proxyProtocol: true)
            if tls == nil { c.http.listen.append(proxied) } else { c.https.listen = [proxied] }
            configure(&c)
        } _: { t in
            let port = try #require(t.listeners.last?.address.port)
            try await body(t, port)
        }
    }

    static func v1(_ client: String, _ port: Int) -> [UInt8] {
        let family = client.contains(":") ? "TCP6" : "TCP4"
        let server = client.contains(":") ? "::1" : "127.0.0.1"
        return Array("PROXY \(family) \(client) \(server) \(port) 443\r\n".utf8)
    }

    /// A v2 PROXY (or, `local`, LOCAL) header for an IPv4 or IPv6 client.
    static func v2(_ client: PeerAddress, _ port: Int, local: Bool = false) -> [UInt8] {
        let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
        let ports: [UInt8] = [UInt8(port >> 8), UInt8(port & 0xFF), 0x01, 0xBB]
        let (family, addresses): (UInt8, [UInt8]) =
            switch client {
            case .v4(let a): (0x11, a.bytes + [127, 0, 0, 1] + ports)
            case .v6(let a): (0x21, a.bytes + IPv6Address(high: 0, low: 1).bytes + ports)
            }
        return signature + [local ? 0x20 : 0x21, family, 0, UInt8(addresses.count)] + addresses
    }

    static func request(_ name: String, hash: [UInt8], port: Int, close: Bool = true) -> [UInt8] {
        let target = announceTarget(hash: hash, peer: testPeer(name), port: port, left: 1)
        return Array("GET \(target) HTTP/1.1\r\nHost: x\r\n\(close ? "Connection: close\r\n" : "")\r\n".utf8)
    }

    /// What a peer that sent no header, from 127.0.0.1 on the plain listener, is told.
    static func everyone(_ t: RunningTracker, _ hash: [UInt8]) throws -> [String] {
        let r = try t.announce("127.0.0.1", hash: hash, peer: testPeer("look"), port: 7000, left: 1, numwant: 50)
        return (compactV4(r["peers"]) + compactV6(r["peers6"])).sorted()
    }

    static func refused(_ c: TestClient) -> Bool {
        do { return try c.closedByPeer() } catch { return "\(error)".contains("errno \(ECONNRESET)") }
    }

    @Test func headersNameTheClientOnEveryPath() async throws {
        try await Self.withProxyListener { t, port in
            let hash = testHash(95)
            // v1 and its request in one write: answered on the accepting thread.
            let one = try TestClient(host: "127.0.0.1", port: port)
            try one.send(Self.v1("203.0.113.40", 7401) + Self.request("one", hash: hash, port: 7401))
            #expect(try one.readResponse().status == 200)
            // v2 for an IPv6 client, alone; the request later.
            let two = try TestClient(host: "127.0.0.1", port: port)
            try two.send(Self.v2(.v6(IPv6Address(high: 0x2001_0db8_0000_0000, low: 0x40)), 7402))
            // A blocking pause: a suspended task may wait long past the header timeout for a
            // thread of the busy cooperative pool, and the tracker rightly closes a silent client.
            usleep(100_000)
            try two.send(Self.request("two", hash: hash, port: 7402))
            #expect(try two.readResponse().status == 200)
            // A header split across reads, then two requests on the kept connection.
            let split = try TestClient(host: "127.0.0.1", port: port)
            let header = Self.v2(.v4(IPv4Address(203, 0, 113, 41)), 7403)
            try split.send(Array(header.prefix(7)))
            // A blocking pause: a suspended task may wait long past the header timeout for a
            // thread of the busy cooperative pool, and the tracker rightly closes a silent client.
            usleep(100_000)
            try split.send(Array(header.dropFirst(7)) + Self.request("kept", hash: hash, port: 7403, close: false))
            #expect(try split.readResponse().status == 200)
            try split.send(Self.request("kept2", hash: hash, port: 7404, close: false))
            #expect(try split.readResponse().status == 200)
            // LOCAL (a balancer's health check): the connection's own address.
            let local = try TestClient(host: "127.0.0.1", port: port)
            try local.send(Self.v2(.v4(IPv4Address(198, 51, 100, 1)), 7405, local: true) + Self.request("local", hash: hash, port: 7405))
            #expect(try local.readResponse().status == 200)
            #expect(
                try Self.everyone(t, hash)
                    == ["127.0.0.1:7405", "203.0.113.40:7401", "203.0.113.41:7403", "203.0.113.41:7404", "[2001:db8::40]:7402"])
        }
    }

    @Test func onlyTrustedProxiesAndOnlyValidHeadersGetIn() async throws {
        // The PROXY listener on [::], trusting 127.0.0.1 alone: ::1 is a stranger.
        try await Self.withProxyListener(proxyHost: "::", trusted: ["127.0.0.1"], { $0.http.headerTimeout = 1 }) { t, port in
            let stranger = try TestClient(host: "::1", port: port)
            try? stranger.send(Self.v1("203.0.113.50", 7501) + Self.request("spoof", hash: testHash(96), port: 7501))
            #expect(Self.refused(stranger), "a header from an untrusted address")
            #expect(try t.metric(#"squall_connections_refused_total{reason="untrusted_proxy"}"#) == 1)
            for bad in [
                Array("GET / HTTP/1.1\r\n\r\n".utf8), Array("PROXY TCP4 203.0.113.50 127.0.0.1 99999 443\r\n".utf8),
                Array("PROXY TCP4 2001:db8::1 127.0.0.1 1 443\r\n".utf8),
                [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0B],
            ] {
                let c = try TestClient(host: "127.0.0.1", port: port)
                try? c.send(bad)
                #expect(Self.refused(c), "\(bad)")
            }
            // Silence, and half a header: closed at the header timeout.
            let silent = try TestClient(host: "127.0.0.1", port: port)
            let half = try TestClient(host: "127.0.0.1", port: port)
            try half.send(Array("PROXY TCP4 203".utf8))
            #expect(Self.refused(silent) && Self.refused(half))
            #expect(try t.metric(#"squall_connections_closed_total{reason="proxy_header"}"#) == 6)
            #expect(try Self.everyone(t, testHash(96)).isEmpty, "nothing got through")
        }
    }

    /// Debian's haproxy in TCP mode with `send-proxy-v2` in front of an HTTPS PROXY listener,
    /// across families: a client on ::1 reaches the tracker over IPv4, one on 127.0.0.1 over
    /// IPv6; each is the peer at its own address.
    @Test(arguments: [("::1", "127.0.0.1"), ("127.0.0.1", "::1")])
    func haproxySendProxyV2InFrontOfHTTPS(client: String, proxyToTracker: String) async throws {
        let f = try TLSFixtures()
        defer { f.cleanup() }
        try await Self.withProxyListener(
            proxyHost: proxyToTracker, trusted: [proxyToTracker], tls: try ReloadableTLSContexts(pairs: [(f.cert, f.key)])
        ) { t, port in
            let front = try FreePort.next()
            let haproxy = try HAProxy(mode: "tcp", listen: (client, front), server: (proxyToTracker, port), serverOptions: "send-proxy-v2")
            defer { haproxy.stop() }
            let url = "https://\(HAProxy.literal(client)):\(front)"
            let deadline = ContinuousClock.now + .seconds(10)
            while (try? curl(["--cacert", f.ca, url + "/health"]))?.status != 0 {
                guard ContinuousClock.now < deadline else { throw TestClient.Failure(description: "haproxy never answered") }
                usleep(50_000)
            }
            let hash = testHash(97)
            let r = try curl(["--cacert", f.ca, url + announceTarget(hash: hash, peer: testPeer("tls-proxied"), port: 7600, left: 1)])
            #expect(r.status == 0 && (try? BencodeValue.decode(r.body))?["failure reason"] == nil)
            #expect(try Self.everyone(t, hash) == [client.contains(":") ? "[::1]:7600" : "127.0.0.1:7600"])
        }
    }
}
