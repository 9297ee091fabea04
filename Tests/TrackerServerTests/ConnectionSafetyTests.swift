import Foundation
import Testing
import TrackerCore
import TrackerProtocol
import TrackerTLS
import TrackerTestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Hostile connections on real sockets: silent, not reading, too many from one place.
@Suite struct ConnectionSafetyTests {
    func metric(_ t: RunningTracker, _ series: String) throws -> Int { try t.metric(series) }

    /// Polls `series` until it reaches `atLeast`, for up to `seconds`.
    func waitFor(_ t: RunningTracker, _ series: String, atLeast: Int, seconds: Double = 15) async throws -> Int {
        let deadline = Date().addingTimeInterval(seconds)
        var n = try metric(t, series)
        while n < atLeast, Date() < deadline {
            try await Task.sleep(for: .milliseconds(100))
            n = try metric(t, series)
        }
        return n
    }

    @Test func silentConnectionsAreClosedAtTheHeaderTimeoutOnHTTPAndHTTPS() async throws {
        let f = try TLSFixtures()
        defer { f.cleanup() }
        let t = try await RunningTracker.start(tls: try ReloadableTLSContexts(pairs: [(f.cert, f.key)])) {
            $0.http.headerTimeout = 1
            $0.http.idleTimeout = 300
            $0.https.handshakeTimeout = 300
        }
        let started = Date()
        let http = try TestClient(host: "127.0.0.1", port: t.port, timeoutSeconds: 20)
        let https = try TestClient(host: "::1", port: try #require(t.tlsPort), timeoutSeconds: 20)
        let slow = try TestClient(host: "127.0.0.1", port: t.port, timeoutSeconds: 20)
        try slow.send("GET /announce?")
        #expect(try http.closedByPeer(), "a connection that sends nothing is closed without a reply")
        #expect(try https.closedByPeer(), "also before a TLS handshake")
        #expect(try slow.readResponse().status == 408, "half a head gets 408")
        // Closed on the header deadline, not on the idle (300 s) or handshake (300 s) ones.
        #expect(Date().timeIntervalSince(started) < 15)
        #expect(try metric(t, #"squall_connections_closed_total{reason="header_timeout"}"#) == 3)
        try await t.stop()
    }

    @Test func connectionsBeyondTheLimitPerSourceAreClosedAtAcceptAndOthersGetIn() async throws {
        let t = try await RunningTracker.start { $0.http.maxConnectionsPerSource = 3 }
        let held = try (0..<3).map { _ in try TestClient.answeredAndHeld("127.0.0.1", t.port) }
        #expect(try TestClient.closedAtAccept("127.0.0.1", t.port), "a fourth connection from 127.0.0.1 is closed at once")
        // ::1 is another source (the metrics request itself comes from there).
        #expect(try metric(t, #"squall_connections_refused_total{reason="per_source"}"#) == 1)
        // A place frees up when a connection closes.
        try held[0].send("GET /health HTTP/1.1\r\nConnection: close\r\n\r\n")
        _ = try held[0].readResponse()
        #expect(try held[0].closedByPeer())
        #expect(try await TestClient.eventuallyServed("127.0.0.1", t.port))
        try await t.stop()
    }

    /// A client pipelines announces with large replies and never reads one. Squall stops
    /// reading it and closes it: at the write timeout, or sooner when its unanswered requests
    /// pass the buffer bound. (`FloodProcessTests` measures the memory this keeps bounded.)
    @Test func aClientThatNeverReadsIsClosed() async throws {
        let t = try await RunningTracker.start { $0.http.writeTimeout = 2 }
        let hash = testHash(90)
        try preloadSwarm(host: "127.0.0.1", port: t.port, hash: hash, peers: 200)
        let started = Date()
        let outcome = Flood.run(host: "127.0.0.1", port: t.port, request: Flood.request(hash: hash), seconds: 20)
        #expect(outcome.closed, "still open after \(outcome.sent) bytes")
        #expect(Date().timeIntervalSince(started) < 15)
        // Whichever bound it met first: unread output, unanswered input, or the write deadline.
        let reasons = try ["unflushed", "buffered", "write_timeout"].map {
            try metric(t, #"squall_connections_closed_total{reason="\#($0)"}"#)
        }
        #expect(reasons.reduce(0, +) == 1, "\(reasons)")
        // The tracker serves others all along.
        #expect(try t.get("::1", "/health").status == 200)
        try await t.stop()
    }

    @Test func http10KeepAliveIsKeptAndSaysSo() async throws {
        let t = try await RunningTracker.start()
        let c = try TestClient(host: "127.0.0.1", port: t.port)
        for _ in 0..<2 {
            try c.send("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            let r = try c.readResponse()
            #expect(r.status == 200 && r.header("Connection")?.lowercased() == "keep-alive")
        }
        try c.send("GET /health HTTP/1.0\r\n\r\n")
        #expect(try c.readResponse().header("Connection") == "close")
        #expect(try c.closedByPeer())
        try await t.stop()
    }

    @Test func failedHandshakesAreCounted() async throws {
        let f = try TLSFixtures()
        defer { f.cleanup() }
        let t = try await RunningTracker.start(tls: try ReloadableTLSContexts(pairs: [(f.cert, f.key)]))
        let garbage = try TestClient(host: "::1", port: try #require(t.tlsPort))
        try garbage.send([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])
        #expect(try garbage.closedByPeer())
        #expect(try await waitFor(t, "squall_tls_handshake_failures_total", atLeast: 1) == 1)
        try await t.stop()
    }
}

/// Announces `peers` seeders into one torrent over one keep-alive connection.
func preloadSwarm(host: String, port: Int, hash: [UInt8], peers: Int) throws {
    let setup = try TestClient(host: host, port: port)
    for i in 0..<peers {
        try setup.send("GET \(announceTarget(hash: hash, peer: testPeer("s\(i)"), port: 10_000 + i, left: 0)) HTTP/1.1\r\n\r\n")
        guard try setup.readResponse().status == 200 else { throw TestClient.Failure(description: "preload failed") }
    }
}

/// A client that pipelines requests as fast as the socket takes them and never reads a reply.
enum Flood {
    /// An announce with the largest reply: 200 peers, dictionary model.
    static func request(hash: [UInt8]) -> [UInt8] {
        Array(
            "GET \(announceTarget(hash: hash, peer: testPeer("flood"), left: 5, numwant: 200, compact: false)) HTTP/1.1\r\nHost: t\r\n\r\n"
                .utf8)
    }

    struct Outcome {
        var sent = 0
        /// The server closed the connection (the send failed with something other than EAGAIN).
        var closed = false
    }

    /// Sends `request` 64 at a time on a non-blocking socket for up to `seconds`, or until the
    /// server closes the connection.
    static func run(host: String, port: Int, request: [UInt8], seconds: Double) -> Outcome {
        guard let c = try? TestClient(host: host, port: port) else { return Outcome() }
        _ = fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK)
        let burst = Array([[UInt8]](repeating: request, count: 64).joined())
        var outcome = Outcome()
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            let n = burst.withUnsafeBytes { send(c.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                outcome.sent += n
            } else if errno == EAGAIN {
                usleep(5_000)
            } else {
                outcome.closed = true
                break
            }
        }
        return outcome
    }
}
