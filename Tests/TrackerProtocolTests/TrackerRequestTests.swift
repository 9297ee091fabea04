import Testing
import TrackerCore

@testable import TrackerProtocol

/// Every route read from a real head, and the paths that only look like one.
@Suite struct TrackerRequestTests {
    static func request(_ target: String) -> TrackerRequest? {
        guard case .head(let head, _) = parseHead("GET \(target) HTTP/1.1\r\nHost: t\r\n\r\n") else { return nil }
        return TrackerRequest(head)
    }

    @Test func routes() throws {
        let hash = String(repeating: "ab", count: 20)
        let torrent = InfoHash(try #require(Bytes20(hex: hash)))
        let cases: [(String, TrackerRequest)] = [
            ("/announce?info_hash=x", .announce),
            ("/announce", .redirect(.announcePage)),
            ("/announce?", .redirect(.announcePage)),
            ("/scrape", .scrape),
            ("/scrape?info_hash=x", .scrape),
            ("/health", .health),
            ("/metrics", .metrics),
            ("/stats", .stats(.page)),
            ("/stats?x=1", .stats(.page)),
            ("/stats.json", .stats(.summary)),
            ("/stats.php", .redirect(.legacyStats)),
            ("/stats/history.json", .stats(.history)),
            ("/stats/torrents.json?draw=1", .stats(.torrents)),
            ("/stats/torrents/\(hash).json", .stats(.torrent(torrent))),
            ("/stats/torrents/\(hash.uppercased()).json", .stats(.torrent(torrent))),
            ("/stats/assets/squall-stats.js", .stats(.asset("squall-stats.js"))),
            ("/stats/assets/", .stats(.asset(""))),
            ("/", .root),
        ]
        for (target, expected) in cases { #expect(Self.request(target) == expected, "\(target)") }
    }

    @Test func nearMissesAreNotRoutes() {
        let hash = String(repeating: "ab", count: 20)
        for target in ["/announce/", "/Announce?x=1", "/scraper", "/healthz", "/metrics/", "/statsx", "/x/announce?a=1", ""] {
            #expect(Self.request(target).map { $0 == .notFound } ?? true, "\(target)")
        }
        for target in [
            "/stats/", "/stats/torrents", "/stats/torrents/\(hash)", "/stats/torrents/\(hash).jsonx",
            "/stats/torrents/\(hash.dropLast()).json",
            "/stats/torrents/\(String(repeating: "zz", count: 20)).json",
        ] {
            #expect(Self.request(target) == .stats(.unknown), "\(target)")
        }
    }

    @Test func whatTheStatisticsAccessRuleCovers() {
        let guarded: [TrackerRequest] = [.metrics, .stats(.page), .stats(.unknown), .stats(.asset("a")), .redirect(.legacyStats)]
        let open: [TrackerRequest] = [.announce, .scrape, .health, .redirect(.announcePage), .root, .notFound]
        #expect(guarded.allSatisfy { $0.isStatistics })
        #expect(!open.contains { $0.isStatistics })
        #expect(TrackerRequest.Redirect.announcePage.status == 302 && TrackerRequest.Redirect.legacyStats.status == 301)
    }
}
