import Testing
import TrackerCore
import TrackerProtocol
import TrackerServer
import TrackerTestSupport

/// Real sockets on 127.0.0.1 and ::1, both through the one `[::]` listener.
@Suite struct EndToEndTests {
    @Test func bothFamiliesReachOneDualStackListenerAndSeeEachOther() async throws {
        let t = try await RunningTracker.start()
        let h = testHash(1)
        let seed = try t.announce("127.0.0.1", hash: h, peer: testPeer("seed4"), port: 7000, left: 0)
        #expect(seed["complete"] == .int(1) && seed["incomplete"] == .int(0))
        #expect(seed["external ip"] == .bytes([127, 0, 0, 1]))

        let leech = try t.announce("::1", hash: h, peer: testPeer("leech6"), port: 7001, left: 5)
        #expect(leech["external ip"] == .bytes([UInt8](repeating: 0, count: 15) + [1]))
        #expect(compactV4(leech["peers"]) == ["127.0.0.1:7000"], "an IPv6 client learns the IPv4 seed")
        #expect(compactV6(leech["peers6"]).isEmpty)

        let seedAgain = try t.announce("127.0.0.1", hash: h, peer: testPeer("seed4"), port: 7000, left: 0)
        #expect(compactV6(seedAgain["peers6"]) == ["[::1]:7001"], "an IPv4 client learns the IPv6 leecher")
        #expect(seedAgain["complete"] == .int(1) && seedAgain["incomplete"] == .int(1))
        try await t.stop()
    }

    @Test func aPeerAnnouncingOverBothFamiliesIsOnePeerWithTwoEndpoints() async throws {
        let t = try await RunningTracker.start()
        let h = testHash(2)
        // The key (BEP 7) is what lets the second family join the first.
        _ = try t.announce("127.0.0.1", hash: h, peer: testPeer("dual"), port: 7100, left: 0, key: "5EC0D1A1")
        let second = try t.announce("::1", hash: h, peer: testPeer("dual"), port: 7100, left: 0, key: "5EC0D1A1")
        #expect(second["complete"] == .int(1) && second["incomplete"] == .int(0))
        let other = try t.announce("::1", hash: h, peer: testPeer("other"), port: 7200, left: 9)
        #expect(other["complete"] == .int(1) && other["incomplete"] == .int(1))
        #expect(compactV4(other["peers"]) == ["127.0.0.1:7100"])
        #expect(compactV6(other["peers6"]) == ["[::1]:7100"])
        try await t.stop()
    }

    @Test func dictionaryModelAndNoPeerID() async throws {
        let t = try await RunningTracker.start()
        let h = testHash(3)
        _ = try t.announce("::1", hash: h, peer: testPeer("a"), port: 7300, left: 0)
        let full = try t.announce("127.0.0.1", hash: h, peer: testPeer("b"), left: 3, compact: false)
        let list = try #require(full["peers"]?.listValue)
        #expect(list.count == 1)
        #expect(list[0]["ip"]?.stringValue == "::1" && list[0]["port"] == .int(7300))
        #expect(list[0]["peer id"]?.bytesValue == testPeer("a"))
        let bare = try t.announce("127.0.0.1", hash: h, peer: testPeer("b"), left: 3, compact: false, noPeerID: true)
        #expect(bare["peers"]?.listValue?.first?["peer id"] == nil)
        try await t.stop()
    }

    @Test func eventsCountAndStop() async throws {
        let t = try await RunningTracker.start()
        let h = testHash(4)
        _ = try t.announce("127.0.0.1", hash: h, peer: testPeer("x"), left: 10, event: .started)
        let done = try t.announce("127.0.0.1", hash: h, peer: testPeer("x"), left: 0, event: .completed)
        #expect(done["downloaded"] == .int(1) && done["complete"] == .int(1))
        _ = try t.announce("::1", hash: h, peer: testPeer("y"), left: 5)
        let stopped = try t.announce("127.0.0.1", hash: h, peer: testPeer("x"), left: 0, event: .stopped)
        #expect(stopped["peers"] == .bytes([]) && stopped["peers6"] == .bytes([]))
        #expect(stopped["complete"] == .int(0) && stopped["incomplete"] == .int(1))
        try await t.stop()
    }

    @Test func numwantIsCappedByConfig() async throws {
        let t = try await RunningTracker.start {
            $0.announce.maxNumwant = 5
            $0.announce.defaultNumwant = 5
        }
        let h = testHash(5)
        for i in 0..<12 { _ = try t.announce("127.0.0.1", hash: h, peer: testPeer("p\(i)"), port: 8000 + i, left: 1) }
        let r = try t.announce("127.0.0.1", hash: h, peer: testPeer("p0"), port: 8000, left: 1, numwant: 100)
        #expect(compactV4(r["peers"]).count == 5)
        let two = try t.announce("127.0.0.1", hash: h, peer: testPeer("p0"), port: 8000, left: 1, numwant: 2)
        #expect(compactV4(two["peers"]).count == 2)
        try await t.stop()
    }

    @Test func clientMistakesGetBencodedFailureReasons() async throws {
        let t = try await RunningTracker.start()
        for (target, reason) in [
            ("/announce?peer_id=\(String(repeating: "a", count: 20))&port=1&left=0", "missing parameter: info_hash"),
            (
                "/announce?info_hash=abc&peer_id=\(String(repeating: "a", count: 20))&port=1&left=0",
                "invalid parameter info_hash: must be 20 bytes"
            ),
            (announceTarget(hash: testHash(6), peer: testPeer("z"), port: 0), "invalid parameter port: must be 1-65535"),
            ("/scrape", "full scrape is disabled; pass info_hash"),
        ] {
            let r = try t.get("127.0.0.1", target)
            #expect(r.status == 200)
            #expect(try BencodeValue.decode(r.body)["failure reason"]?.stringValue == reason)
        }
        try await t.stop()
    }

    @Test func scrapeManyOmitsUnknownAndFullScrapeWhenEnabled() async throws {
        let t = try await RunningTracker.start { $0.scrape.fullScrape = true }
        _ = try t.announce("127.0.0.1", hash: testHash(7), peer: testPeer("a"), left: 0, event: .completed)
        _ = try t.announce("::1", hash: testHash(8), peer: testPeer("b"), left: 4)
        let q = [testHash(7), testHash(8), testHash(9)].map { "info_hash=\(PercentDecoding.encode($0))" }.joined(separator: "&")
        let r = try BencodeValue.decode(try t.get("::1", "/scrape?" + q).body)
        let files = try #require(r["files"]?.dictEntries)
        #expect(files.map(\.0) == [testHash(7), testHash(8)])
        #expect(files[0].1["complete"] == .int(1) && files[0].1["downloaded"] == .int(1))
        #expect(files[1].1["incomplete"] == .int(1) && files[1].1["downloaders"] == .int(1))
        let all = try BencodeValue.decode(try t.get("127.0.0.1", "/scrape").body)
        #expect(all["files"]?.dictEntries?.count == 2)
        try await t.stop()
    }

    @Test func keepAlivePipeliningAndConnectionClose() async throws {
        let t = try await RunningTracker.start()
        let c = try TestClient(host: "::1", port: t.port)
        let a = announceTarget(hash: testHash(10), peer: testPeer("ka"), left: 1)
        // Two pipelined requests in one write, answered in order.
        try c.send("GET \(a) HTTP/1.1\r\nHost: t\r\n\r\nGET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        let first = try c.readResponse()
        let decoded = try BencodeValue.decode(first.body)
        #expect(first.status == 200 && decoded["incomplete"] == .int(1))
        let second = try c.readResponse()
        #expect(String(decoding: second.body, as: UTF8.self).contains("\"version\":\"\(TrackerRouter.version)\""))
        // Twenty announces of new peers written at once, before any reply is read (a client that
        // waited for each reply could not send them so), the last head split across two writes:
        // each is answered, in order, as the swarm grows by one.
        let burst = (0..<20).map { i in
            "GET \(announceTarget(hash: testHash(10), peer: testPeer("burst\(i)"), port: 9000 + i, left: 1)) HTTP/1.1\r\nHost: t\r\n\r\n"
        }.joined()
        let bytes = Array(burst.utf8)
        try c.send(Array(bytes.dropLast(7)))
        try c.send(Array(bytes.suffix(7)))
        let counts = try (0..<20).map { _ in try BencodeValue.decode(try c.readResponse().body)["incomplete"] }
        #expect(counts == (2...21).map { .int($0) })
        // Byte by byte still works on the same connection.
        for b in Array("GET /health HTTP/1.1\r\nHost: t\r\n\r\n".utf8) { try c.send([b]) }
        #expect(try c.readResponse().status == 200)
        try c.send("GET /health HTTP/1.1\r\nConnection: close\r\n\r\n")
        let last = try c.readResponse()
        #expect(last.header("Connection") == "close")
        #expect(try c.closedByPeer())

        let old = try TestClient(host: "127.0.0.1", port: t.port)
        try old.send("GET /health HTTP/1.0\r\n\r\n")
        #expect(try old.readResponse().status == 200)
        #expect(try old.closedByPeer(), "HTTP/1.0 without keep-alive closes")
        try await t.stop()
    }

    @Test func malformedAndUnsupportedRequests() async throws {
        let t = try await RunningTracker.start { $0.http.maxHeaderBytes = 1024 }
        for (raw, status) in [
            ("BLAH\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 2000) + "\r\n\r\n", 431),
            ("GET / HTTP/3.0\r\n\r\n", 505),
            ("POST /announce HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 405),
            ("GET /announce HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ] {
            let c = try TestClient(host: "127.0.0.1", port: t.port)
            try c.send(raw)
            let r = try c.readResponse()
            #expect(r.status == status, "\(raw.prefix(20))")
            #expect(try c.closedByPeer(), "closed after \(status)")
        }
        let c = try TestClient(host: "::1", port: t.port)
        try c.send("DELETE /announce HTTP/1.1\r\n\r\n")
        let r = try c.readResponse()
        #expect(r.status == 405 && r.header("Allow") == "GET, HEAD")
        #expect(try t.get("127.0.0.1", "/nope").status == 404)
        try await t.stop()
    }

    @Test func headRedirectsStatsAndHealth() async throws {
        let t = try await RunningTracker.start()
        _ = try t.announce("127.0.0.1", hash: testHash(11), peer: testPeer("s"), left: 0)
        let redirect = try t.get("127.0.0.1", "/announce")
        #expect(redirect.status == 302 && redirect.header("Location") == "/stats")
        let php = try t.get("::1", "/stats.php")
        #expect(php.status == 301 && php.header("Location") == "/stats")
        let stats = try t.get("127.0.0.1", "/stats")
        let html = String(decoding: stats.body, as: UTF8.self)
        #expect(stats.status == 200 && html.contains("<th>Torrents</th><td>1</td>") && html.contains("<th>Seeders</th><td>1</td>"))
        #expect(stats.header("Content-Security-Policy") != nil)

        let c = try TestClient(host: "127.0.0.1", port: t.port)
        try c.send("HEAD /health HTTP/1.1\r\n\r\n")
        let head = try c.readResponse(head: true)
        #expect(head.status == 200 && Int(head.header("Content-Length") ?? "") ?? 0 > 0 && head.body.isEmpty)
        try c.send("GET /health HTTP/1.1\r\n\r\n")
        #expect(try c.readResponse().status == 200, "nothing of a body followed the HEAD reply")
        try await t.stop()
    }

    @Test func slowAndIdleConnectionsAreClosed() async throws {
        let t = try await RunningTracker.start {
            $0.http.idleTimeout = 1
            $0.http.headerTimeout = 1
        }
        let slow = try TestClient(host: "127.0.0.1", port: t.port)
        try slow.send("GET /health HTTP/1.1\r\nHost: x\r\n")
        let r = try slow.readResponse()
        #expect(r.status == 408)
        #expect(try slow.closedByPeer())

        let idle = try TestClient(host: "::1", port: t.port)
        try idle.send("GET /health HTTP/1.1\r\n\r\n")
        #expect(try idle.readResponse().status == 200)
        #expect(try idle.closedByPeer(), "idle keep-alive connection closed by the server")
        try await t.stop()
    }

    @Test func expiredPeersLeaveTheSwarm() async throws {
        let t = try await RunningTracker.start { $0.announce.interval = 100 }
        let h = testHash(12)
        _ = try t.announce("127.0.0.1", hash: h, peer: testPeer("old"), left: 0)
        t.clock.advance(by: 161)
        let r = try t.announce("::1", hash: h, peer: testPeer("new"), left: 1)
        #expect(r["complete"] == .int(0) && compactV4(r["peers"]).isEmpty)
        try await t.stop()
    }

    @Test func shutdownClosesIdleConnectionsAndStopsListening() async throws {
        let t = try await RunningTracker.start()
        let c = try TestClient(host: "127.0.0.1", port: t.port)
        try c.send("GET /health HTTP/1.1\r\n\r\n")
        #expect(try c.readResponse().status == 200)
        try await t.stop()
        #expect(try c.closedByPeer())
        #expect(throws: TestClient.Failure.self) { try TestClient(host: "127.0.0.1", port: t.port) }
    }
}

@Suite struct ConnectionLimitTests {
    @Test func connectionsBeyondTheLimitAreClosedOnAccept() async throws {
        let t = try await RunningTracker.start { $0.http.maxConnections = 2 }
        let a = try TestClient(host: "127.0.0.1", port: t.port)
        let b = try TestClient(host: "::1", port: t.port)
        for c in [a, b] {
            try c.send("GET /health HTTP/1.1\r\n\r\n")
            #expect(try c.readResponse().status == 200)
        }
        let third = try TestClient(host: "127.0.0.1", port: t.port)
        #expect(try third.closedByPeer(), "a third connection is closed at once")
        // A slot frees up when a connection closes.
        try a.send("GET /health HTTP/1.1\r\nConnection: close\r\n\r\n")
        _ = try a.readResponse()
        #expect(try a.closedByPeer())
        #expect(try await TestClient.eventuallyServed("127.0.0.1", t.port))
        try await t.stop()
    }
}
