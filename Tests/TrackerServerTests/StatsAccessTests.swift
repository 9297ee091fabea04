import Foundation
import Testing
import TrackerProtocol
import TrackerTestSupport

@testable import TrackerServer

/// `/stats`, `/stats.json` and `/metrics`: what they report and who may read them.
@Suite struct StatsAccessTests {
    static let statsRoutes = ["/stats", "/stats.json", "/metrics", "/stats/torrents.json?draw=1"]

    @Test func onlyAllowedAddressesReadTheStatistics() async throws {
        try await withRunningTracker({ $0.stats.allow = [AddressRange("127.0.0.1")!] }) { t throws in
            for route in Self.statsRoutes {
                #expect(try TestClient.get("127.0.0.1", t.port, route).status == 200, "\(route) from 127.0.0.1")
                let refused = try TestClient.get("::1", t.port, route)
                #expect(refused.status == 403 && !String(decoding: refused.body, as: UTF8.self).contains("squall_"), "\(route) from ::1")
            }
            // Announces are not affected by the rule.
            let a = try TestClient.get("::1", t.port, announceTarget(hash: testHash(70), peer: testPeer("v6"), left: 1))
            #expect(try BencodeValue.decode(a.body)["incomplete"] == .int(1))
        }
    }

    @Test func aTokenIsRequiredWhenSet() async throws {
        try await withRunningTracker({ $0.stats.token = "s3cret-token" }) { t throws in
            for route in Self.statsRoutes {
                #expect(try TestClient.get("127.0.0.1", t.port, route).status == 403)
                #expect(try TestClient.get("127.0.0.1", t.port, route, headers: ["Authorization: Bearer wrong-token!"]).status == 403)
                #expect(try TestClient.get("127.0.0.1", t.port, route, headers: ["Authorization: Bearer s3cret-token"]).status == 200)
            }
        }
    }

    /// DNS rebinding: a page from a name the attacker controls, resolved to 127.0.0.1, reads
    /// nothing, because the browser sends that name as the Host.
    @Test func onlyKnownHostNamesReadTheStatistics() async throws {
        try await withRunningTracker({ $0.stats.hosts = ["tracker.example.org"] }) { t throws in
            for route in Self.statsRoutes {
                for host in ["evil.example", "evil.example:\(t.port)", "localhost.evil.example", "127.0.0.1.evil.example"] {
                    let r = try TestClient.get("127.0.0.1", t.port, route, headers: ["Host: \(host)"])
                    #expect(r.status == 403 && !String(decoding: r.body, as: UTF8.self).contains("squall_"), "\(route) with Host \(host)")
                }
                for host in [
                    "localhost", "LocalHost:\(t.port)", "127.0.0.1:\(t.port)", "[::1]:\(t.port)", "tracker.example.org", "10.1.2.3",
                ] {
                    #expect(
                        try TestClient.get("127.0.0.1", t.port, route, headers: ["Host: \(host)"]).status == 200,
                        "\(route) with Host \(host)")
                }
            }
            // Announces do not look at the Host.
            let a = try TestClient.get(
                "127.0.0.1", t.port, announceTarget(hash: testHash(73), peer: testPeer("h"), left: 1), headers: ["Host: evil.example"])
            #expect(a.status == 200)
        }
    }

    @Test func healthTellsOutsidersOnlyItsStatus() async throws {
        try await withRunningTracker({ $0.stats.allow = [AddressRange("127.0.0.1")!] }) { t throws in
            let inside = String(decoding: try TestClient.get("127.0.0.1", t.port, "/health").body, as: UTF8.self)
            #expect(inside.contains(#""version""#) && inside.contains(#""store":"memory""#))
            let outside = try TestClient.get("::1", t.port, "/health")
            #expect(outside.status == 200 && String(decoding: outside.body, as: UTF8.self) == #"{"status":"ok"}"# + "\n")
        }
    }

    @Test func disabledStatisticsAreNotFound() async throws {
        try await withRunningTracker({ $0.stats.enabled = false }) { t throws in
            for route in Self.statsRoutes { #expect(try TestClient.get("127.0.0.1", t.port, route).status == 404) }
        }
    }

    @Test func summaryAndMetricsCountWhatHappened() async throws {
        try await withRunningTracker { t throws in
            for i in 0..<3 {
                _ = try TestClient.get(
                    "127.0.0.1", t.port, announceTarget(hash: testHash(71), peer: testPeer("p\(i)"), left: i == 0 ? 0 : 1))
            }
            _ = try TestClient.get("::1", t.port, announceTarget(hash: testHash(72), peer: testPeer("six"), left: 1))
            _ = try TestClient.get("127.0.0.1", t.port, "/announce?info_hash=short")
            _ = try TestClient.get("127.0.0.1", t.port, "/scrape")

            let summary = try TestClient.get("127.0.0.1", t.port, "/stats.json")
            #expect(summary.status == 200)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(summary.body)) as? [String: Any])
            #expect(
                json["torrents"] as? Int == 2 && json["peers"] as? Int == 4 && json["seeders"] as? Int == 1 && json["leechers"] as? Int == 3
            )
            let families = try #require(json["peers_by_family"] as? [String: Int])
            #expect(families == ["ipv4": 3, "ipv6": 1, "both": 0])
            let announces = try #require(json["announces"] as? [String: Any])
            #expect((announces["http"] as? [String: Any])?["total"] as? Int == 5, "\(announces)")
            #expect((announces["https"] as? [String: Any])?["total"] as? Int == 0)
            #expect((json["store"] as? [String: Any])?["kind"] as? String == "memory" && json["uptime"] as? Int != nil)

            let metrics = String(decoding: try TestClient.get("127.0.0.1", t.port, "/metrics").body, as: UTF8.self)
            let lines = Set(metrics.split(separator: "\n").map(String.init))
            #expect(lines.contains(#"squall_requests_total{route="announce",transport="http",family="ipv4",outcome="ok"} 3"#), "\(metrics)")
            #expect(lines.contains(#"squall_requests_total{route="announce",transport="http",family="ipv6",outcome="ok"} 1"#))
            #expect(lines.contains(#"squall_requests_total{route="announce",transport="http",family="ipv4",outcome="failure"} 1"#))
            #expect(lines.contains(#"squall_requests_total{route="scrape",transport="http",family="ipv4",outcome="failure"} 1"#))
            #expect(
                lines.contains("squall_torrents 2.0") && lines.contains("squall_peers 4.0") && lines.contains("squall_seeders 1.0"),
                "\(metrics)")
            #expect(lines.contains { $0.hasPrefix("squall_open_connections ") })
            #expect(
                lines.contains(#"squall_peers_by_family{family="ipv4"} 3.0"#)
                    && lines.contains(#"squall_peers_by_family{family="ipv6"} 1.0"#))
            #expect(lines.contains { $0.hasPrefix(#"squall_announce_duration_seconds_count"#) && $0.hasSuffix(" 5") }, "\(metrics)")
        }
    }

    /// The latency histograms start at 10 us: announces over loopback land in the buckets at
    /// or below 100 us (swift-prometheus's default would put every one in its first, 5 ms).
    @Test func latencyBucketsResolveMicroseconds() async throws {
        try await withRunningTracker { t in
            let c = try TestClient(host: "127.0.0.1", port: t.port)
            for n in 0..<200 {
                let target = announceTarget(hash: testHash(60), peer: testPeer("lat\(n % 20)"), port: 7000 + n % 20, left: 1)
                try c.send("GET \(target) HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(try c.readResponse().status == 200)
            }
            let metrics = String(decoding: try TestClient.get("127.0.0.1", t.port, "/metrics").body, as: UTF8.self)
            var buckets: [(le: Double, count: Int)] = []
            for line in metrics.split(separator: "\n") where line.hasPrefix(#"squall_announce_duration_seconds_bucket{le=""#) {
                let le = line.split(separator: "\"")[1]
                buckets.append((le == "+Inf" ? .infinity : Double(le)!, Int(line.split(separator: " ").last!)!))
            }
            #expect(
                buckets.map(\.le) == TrackerMetrics.durationBuckets.map {
                    Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18
                } + [.infinity], "\(metrics)")
            let fast = buckets.last { $0.le <= 0.0001 }?.count ?? 0
            #expect(fast > 0 && buckets.last?.count == 200, "\(buckets)")
        }
    }

    static func json(_ r: TestClient.Response) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any])
    }

    @Test func theTorrentsTableIsPagedSortedAndSearchedByTheServer() async throws {
        try await withRunningTracker { t throws in
            for (n, peers) in [(80, 3), (81, 1), (82, 2)] {
                for i in 0..<peers {
                    _ = try TestClient.get(
                        "127.0.0.1", t.port, announceTarget(hash: testHash(UInt8(n)), peer: testPeer("t\(n)p\(i)"), left: 0))
                }
            }
            let q = "draw=3&start=0&length=2&search%5Bvalue%5D=&order%5B0%5D%5Bcolumn%5D=1&order%5B0%5D%5Bdir%5D=desc"
            let page = try Self.json(try TestClient.get("127.0.0.1", t.port, "/stats/torrents.json?" + q))
            #expect(page["draw"] as? Int == 3 && page["recordsTotal"] as? Int == 3 && page["recordsFiltered"] as? Int == 3)
            let data = try #require(page["data"] as? [[Any]])
            #expect(data.count == 2 && data[0][0] as? String == hex20(testHash(80)) && data[0][1] as? Int == 3)
            #expect(data[1][1] as? Int == 2)
            let second = try Self.json(
                try TestClient.get("127.0.0.1", t.port, "/stats/torrents.json?draw=4&start=2&length=2&order%5B0%5D%5Bcolumn%5D=1"))
            #expect((second["data"] as? [[Any]])?.first?[1] as? Int == 1)
            let hex = hex20(testHash(81))
            let searched = try Self.json(
                try TestClient.get("127.0.0.1", t.port, "/stats/torrents.json?draw=5&search%5Bvalue%5D=" + hex.prefix(12).uppercased()))
            #expect(searched["recordsFiltered"] as? Int == 1 && (searched["data"] as? [[Any]])?.first?[0] as? String == hex)
            // draw goes back as a number, whatever was sent.
            let hostile = try TestClient.get("127.0.0.1", t.port, "/stats/torrents.json?draw=%3Cscript%3E")
            #expect(try Self.json(hostile)["draw"] as? Int == 0 && !String(decoding: hostile.body, as: UTF8.self).contains("<"))
        }
    }

    @Test func theDetailViewNamesClientsEscapesEverythingAndHidesAddresses() async throws {
        for show in [false, true] {
            let t = try await RunningTracker.start { $0.stats.showPeerAddresses = show }
            let hash = testHash(90)
            _ = try TestClient.get(
                "127.0.0.1", t.port, announceTarget(hash: hash, peer: Array("-qB4650-abcdefghijkl".utf8), port: 7000, left: 0))
            _ = try TestClient.get("::1", t.port, announceTarget(hash: hash, peer: Array("<script>alert(1)<!--".utf8), port: 7001, left: 1))
            let r = try TestClient.get("127.0.0.1", t.port, "/stats/torrents/\(hex20(hash)).json")
            let body = String(decoding: r.body, as: UTF8.self)
            #expect(r.status == 200 && !body.contains("<") && !body.contains("script>"), "\(body)")
            let peers = try #require(try Self.json(r)["peers"] as? [[String: Any]])
            let qb = try #require(peers.first { $0["role"] as? String == "seeder" })
            #expect(
                qb["client"] as? String == "qBittorrent 4.6.5.0" && qb["port"] as? Int == 7000 && qb["families"] as? [String] == ["ipv4"])
            let odd = try #require(peers.first { $0["role"] as? String == "leecher" })
            #expect(odd["client"] is NSNull && odd["peer_id"] as? String == hex20(Array("<script>alert(1)<!--".utf8)))
            #expect(odd["families"] as? [String] == ["ipv6"])
            #expect(body.contains("127.0.0.1") == show && (qb["ipv4"] as? String == "127.0.0.1") == show)
            #expect(try TestClient.get("127.0.0.1", t.port, "/stats/torrents/\(hex20(testHash(91))).json").status == 404)
            try await t.stop()
        }
    }
}
