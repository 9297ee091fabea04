import Foundation
import Testing
import TrackerCore
import TrackerProtocol
import TrackerServer
import TrackerTLS
import TrackerTestSupport

/// `trusted_proxies` over real sockets: a trusted proxy's `X-Forwarded-For` or `X-Real-IP`
/// names the peer's address, over HTTP (both the accepting thread's one-shot path and kept
/// connections) and HTTPS; anyone else's are ignored.
@Suite struct TrustedProxyTests {
    /// A peer that sent no header, from 127.0.0.1, asking for everyone.
    static func everyone(_ t: RunningTracker, _ hash: [UInt8]) throws -> (v4: [String], v6: [String]) {
        let r = try t.announce("127.0.0.1", hash: hash, peer: testPeer("look"), port: 7000, left: 1, numwant: 50)
        return (compactV4(r["peers"]).sorted(), compactV6(r["peers6"]).sorted())
    }

    static func announce(_ t: RunningTracker, _ host: String, _ hash: [UInt8], _ name: String, port: Int, _ headers: [String]) throws {
        let r = try t.get(host, announceTarget(hash: hash, peer: testPeer(name), port: port, left: 1), headers: headers)
        let reply = try BencodeValue.decode(r.body)
        #expect(r.status == 200 && reply["failure reason"] == nil)
    }

    @Test func aTrustedProxyNamesTheClientAndNobodyElseCan() async throws {
        try await withRunningTracker({ $0.trustedProxies = [AddressRange("127.0.0.1/32")!] }) { t in
            let hash = testHash(90)
            // The client's own entry (1.1.1.1) is left of the one the proxy appended.
            try Self.announce(t, "127.0.0.1", hash, "a", port: 7001, ["X-Forwarded-For: 1.1.1.1, 203.0.113.7"])
            try Self.announce(t, "127.0.0.1", hash, "b", port: 7002, ["X-Forwarded-For: 2001:db8::7"])
            try Self.announce(t, "127.0.0.1", hash, "c", port: 7003, ["X-Real-IP: 198.51.100.3"])
            // ::1 is not trusted: its headers count for nothing.
            try Self.announce(t, "::1", hash, "d", port: 7004, ["X-Forwarded-For: 198.51.100.66", "X-Real-IP: 198.51.100.67"])
            let seen = try Self.everyone(t, hash)
            #expect(seen.v4 == ["198.51.100.3:7003", "203.0.113.7:7001"], "\(seen)")
            #expect(seen.v6 == ["[2001:db8::7]:7002", "[::1]:7004"], "\(seen)")
            // A kept connection: each request names its own client.
            let c = try TestClient(host: "127.0.0.1", port: t.port)
            for (n, address) in ["203.0.113.20", "203.0.113.21"].enumerated() {
                let target = announceTarget(hash: testHash(91), peer: testPeer("k\(n)"), port: 7100 + n, left: 1)
                try c.send("GET \(target) HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: \(address)\r\n\r\n")
                #expect(try c.readResponse().status == 200)
            }
            #expect(try Self.everyone(t, testHash(91)).v4 == ["203.0.113.20:7100", "203.0.113.21:7101"])
        }
    }

    @Test func anIPv4ClientProxiedOverIPv6IsAnIPv4Peer() async throws {
        try await withRunningTracker({ $0.trustedProxies = [AddressRange("::1")!] }) { t in
            try Self.announce(t, "::1", testHash(92), "v4", port: 7201, ["X-Forwarded-For: 198.51.100.9"])
            try Self.announce(t, "::1", testHash(92), "mapped", port: 7202, ["X-Forwarded-For: ::ffff:198.51.100.10"])
            let seen = try Self.everyone(t, testHash(92))
            #expect(seen.v4 == ["198.51.100.10:7202", "198.51.100.9:7201"] && seen.v6.isEmpty, "\(seen)")
        }
    }

    @Test func overHTTPSToo() async throws {
        let f = try TLSFixtures()
        defer { f.cleanup() }
        try await withRunningTracker(tls: try ReloadableTLSContexts(pairs: [(f.cert, f.key)])) {
            $0.trustedProxies = [AddressRange("127.0.0.0/8")!]
        } _: { t in
            let port = try #require(t.tlsPort)
            for (host, name, address) in [("127.0.0.1", "tls-a", "203.0.113.30"), ("[::1]", "tls-b", "203.0.113.31")] {
                let target = announceTarget(hash: testHash(93), peer: testPeer(name), port: 7300, left: 1)
                let r = try curl(["--cacert", f.ca, "-H", "X-Forwarded-For: \(address)", "https://\(host):\(port)\(target)"])
                #expect(r.status == 0)
            }
            let seen = try Self.everyone(t, testHash(93))
            // 127.0.0.1 is trusted, ::1 is not.
            #expect(seen.v4 == ["203.0.113.30:7300"] && seen.v6 == ["[::1]:7300"], "\(seen)")
        }
    }

    /// Debian's haproxy in HTTP mode (`option forwardfor`, which appends the address its client
    /// connected from after any `X-Forwarded-For` the client sent) on loopback, across families:
    /// a client on ::1 through a proxy that reaches the tracker over IPv4 (from 127.0.0.3, the
    /// only address trusted), then a client on 127.0.0.1 through one that reaches it over IPv6
    /// (::1 trusted). Each is the peer at its own address; what it said of itself is not read.
    @Test(arguments: [("::1", "127.0.0.1", "127.0.0.3"), ("127.0.0.1", "::1", "::1")])
    func behindHAProxyTheClientIsTheOneHAProxyNames(client: String, proxyToTracker: String, trusted: String) async throws {
        try await withRunningTracker({ $0.trustedProxies = [AddressRange(trusted)!] }) { t in
            let front = try FreePort.next()
            let haproxy = try HAProxy(
                mode: "http", listen: (client, front), server: (proxyToTracker, t.port),
                serverOptions: trusted == proxyToTracker ? "" : "source \(trusted)")
            defer { haproxy.stop() }
            let deadline = ContinuousClock.now + .seconds(10)
            while (try? TestClient.get(client, front, "/health"))?.status != 200 {
                guard ContinuousClock.now < deadline else { throw TestClient.Failure(description: "haproxy never answered") }
                usleep(50_000)
            }
            let hash = testHash(94)
            let target = announceTarget(hash: hash, peer: testPeer("proxied"), port: front, left: 1)
            let r = try TestClient.get(client, front, target, headers: ["X-Forwarded-For: 203.0.113.99"])
            #expect(r.status == 200 && (try? BencodeValue.decode(r.body))?["failure reason"] == nil)
            let seen = try Self.everyone(t, hash)
            let expected = client.contains(":") ? (v4: [String](), v6: ["[::1]:\(front)"]) : (v4: ["127.0.0.1:\(front)"], v6: [])
            #expect(seen.v4 == expected.v4 && seen.v6 == expected.v6, "\(seen)")
        }
    }

    @Test func aTrustedProxyIsNotHeldToThePerSourceConnectionLimit() async throws {
        try await withRunningTracker({
            $0.trustedProxies = [AddressRange("127.0.0.1")!]
            $0.http.maxConnectionsPerSource = 2
        }) { t in
            let held = try (0..<4).map { _ in try TestClient.answeredAndHeld("127.0.0.1", t.port) }
            // ::1 is held to it.
            let held6 = try (0..<2).map { _ in try TestClient.answeredAndHeld("::1", t.port) }
            #expect(try TestClient.closedAtAccept("::1", t.port), "a third connection from ::1 is closed at once")
            withExtendedLifetime((held, held6)) {}
        }
    }
}
