import Foundation
import Logging
import NIOPosix
import Testing
import TrackerCore
import TrackerProtocol
import TrackerTestSupport

@testable import RedisStore
@testable import TrackerServer

/// The plain-HTTP listener's paths, on real sockets: answered on the accepting thread, or handed
/// to an event loop after reading, before anything arrived, or in the middle of a reply.
@Suite struct HTTPAcceptorTests {
    private func served(_ t: RunningTracker) throws -> [String: Int] {
        let text = String(decoding: try t.get("127.0.0.1", "/metrics").body, as: UTF8.self)
        var counts: [String: Int] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("squall_http_connections_total{served=\"") {
            let parts = line.split(separator: "\"")
            if parts.count >= 3, let n = Int(parts[2].split(separator: " ").last ?? "") { counts[String(parts[1])] = n }
        }
        return counts
    }

    private func closeRequest(
        _ host: String, _ port: Int, _ target: String, method: String = "GET", maxSegment: Int32? = nil
    ) throws -> (TestClient.Response, Bool) {
        let c = try TestClient(host: host, port: port, maxSegment: maxSegment)
        try c.send("\(method) \(target) HTTP/1.1\r\nHost: tracker\r\nConnection: close\r\n\r\n")
        let r = try c.readResponse(head: method == "HEAD")
        return (r, try c.closedByPeer())
    }

    @Test func aConnectionPerAnnounceIsAnsweredAtAcceptOnBothFamilies() async throws {
        let t = try await RunningTracker.start()
        let h = testHash(40)
        let (seed, seedClosed) = try closeRequest(
            "127.0.0.1", t.port, announceTarget(hash: h, peer: testPeer("v4seed"), port: 7001, left: 0))
        #expect(seed.status == 200 && seed.header("Connection") == "close" && seedClosed)
        let (leech, leechClosed) = try closeRequest(
            "::1", t.port, announceTarget(hash: h, peer: testPeer("v6leech"), port: 7002, left: 5) + "&numwant=10")
        let reply = try BencodeValue.decode(leech.body)
        #expect(leechClosed && reply["complete"] == .int(1) && reply["incomplete"] == .int(1))
        // The remote address came from accept4: the IPv4 seeder is listed as IPv4.
        #expect(compactV4(reply["peers"]) == ["127.0.0.1:7001"])
        let (scrape, _) = try closeRequest("::1", t.port, "/scrape?info_hash=" + h.map { String(format: "%%%02X", $0) }.joined())
        #expect(scrape.status == 200 && String(decoding: scrape.body, as: UTF8.self).contains("8:completei1e"))
        let (head, headClosed) = try closeRequest("127.0.0.1", t.port, "/health", method: "HEAD")
        #expect(head.status == 200 && head.body.isEmpty && Int(head.header("Content-Length") ?? "") ?? 0 > 0 && headClosed)
        let counts = try served(t)
        #expect(counts["at_accept"] == 4)
        #expect(counts["on_loop"] == 1, "the keep-alive /metrics request")
        try await t.stop()
    }

    @Test func aReplyLargerThanOneWriteIsFinishedOnAnEventLoop() async throws {
        let t = try await RunningTracker.start { $0.scrape.fullScrape = true }
        // About 3000 torrents: a full scrape of some 200 kB, more than the socket takes at once
        // from a client with a small segment size.
        let c = try TestClient(host: "127.0.0.1", port: t.port)
        for i in 0..<3000 {
            let hash = [UInt8(i >> 8), UInt8(i & 0xFF)] + [UInt8](repeating: 0x51, count: 18)
            try c.send("GET \(announceTarget(hash: hash, peer: testPeer("big"), left: 0)) HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try c.readResponse().status == 200)
        }
        let (full, closed) = try closeRequest("127.0.0.1", t.port, "/scrape", maxSegment: 536)
        guard case .dict(let files)? = try BencodeValue.decode(full.body)["files"] else {
            Issue.record("no files in the full scrape")
            return
        }
        #expect(files.count == 3000 && closed)
        let counts = try served(t)
        #expect(counts["on_loop_writing"] == 1 && counts["at_accept", default: 0] == 0)
        try await t.stop()
    }

    @Test func aClientThatSendsNothingYetIsWaitedForOnAnEventLoop() async throws {
        // The header deadline runs from accept. In a full suite on two cores this test's task can
        // wait minutes for a cooperative thread (other tests block theirs on sockets and child
        // processes): a run took 145 s and the 120 s deadline closed the quiet connection before
        // its request went out. The deadline is not what this test is about (ConnectionDeadlineTests
        // test it), so it is an hour here.
        let t = try await RunningTracker.start { $0.http.headerTimeout = 3600 }
        let quiet = try TestClient(host: "::1", port: t.port)
        // The kernel holds the connection back for a second (TCP_DEFER_ACCEPT), then hands it
        // over with nothing to read: the acceptor passes it to a loop that waits for the request.
        let deadline = Date().addingTimeInterval(20)
        while try served(t)["on_loop_waiting", default: 0] == 0 {
            guard Date() < deadline else {
                Issue.record("the quiet connection was never accepted")
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        try quiet.send("GET /health HTTP/1.1\r\nConnection: close\r\n\r\n")
        #expect(try quiet.readResponse().status == 200)
        #expect(try quiet.closedByPeer())
        try await t.stop()
    }

    /// With the Redis store, an announce on a connection of its own is routed on its acceptor's
    /// event loop and goes out on that loop's Redis link. Before, it ran on the acceptor thread
    /// and each command hopped to a link chosen round-robin over every loop's.
    @Test func withRedisAConnectionPerAnnounceGoesOutOnItsAcceptorsLoop() async throws {
        let redis = try RedisServer()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 4)
        let store = RedisPeerStore(endpoint: redis.endpoint, group: group, peerTTL: 1860)
        var config = SquallConfig()
        config.http.listen = [ListenAddress(host: "::", port: 0)]
        // No statistics: their history sampler reads totals from the bulk-work pool, off the loops.
        config.stats.enabled = false
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let server = TrackerServer(config: config, store: store, group: group, logger: logger)
        let port = try #require(try await server.start().first?.address.port)
        let h = testHash(41)
        var served = 0
        for i in 0..<200 {
            let target = announceTarget(hash: h, peer: testPeer("one\(i)"), port: 7000 + i, left: i % 2 == 0 ? 0 : 5)
            let (reply, closed) = try closeRequest(i % 2 == 0 ? "127.0.0.1" : "::1", port, target)
            if reply.status == 200, closed, try BencodeValue.decode(reply.body)["failure reason"] == nil { served += 1 }
        }
        let (scrape, _) = try closeRequest("::1", port, "/scrape?info_hash=" + PercentDecoding.encode(h))
        #expect(served == 200 && String(decoding: scrape.body, as: UTF8.self).contains("8:completei100e"))
        #expect(store.commandsSentOffLoop == 0, "\(store.commandsSentOffLoop) of 201 commands were sent from an acceptor thread")
        await server.shutdown(grace: .seconds(2))
        try await group.shutdownGracefully()
    }
}
