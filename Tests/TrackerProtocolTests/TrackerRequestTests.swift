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
            ("/ready", .ready),
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

    static func privateRequest(_ target: String, _ forms: PasskeyForms) -> TrackerRequest? {
        guard case .head(let head, _) = parseHead("GET \(target) HTTP/1.1\r\nHost: t\r\n\r\n") else { return nil }
        return TrackerRequest(head, passkeys: forms)
    }

    @Test func passkeyForms() {
        let key = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa01"
        let bytes = Array(key.utf8)
        let all: PasskeyForms = [.pathAfter, .pathBefore, .query]
        let cases: [(String, PasskeyForms, TrackerRequest)] = [
            ("/announce/\(key)?info_hash=x", .pathAfter, .privateAnnounce(passkey: bytes)),
            ("/announce/\(key)", .pathAfter, .privateAnnounce(passkey: bytes)),
            ("/scrape/\(key)?info_hash=x", .pathAfter, .privateScrape(passkey: bytes)),
            ("/\(key)/announce?info_hash=x", .pathBefore, .privateAnnounce(passkey: bytes)),
            ("/\(key)/scrape", .pathBefore, .privateScrape(passkey: bytes)),
            ("/announce?info_hash=x&passkey=\(key)", .query, .privateAnnounce(passkey: bytes)),
            ("/scrape?passkey=\(key)&info_hash=x", .query, .privateScrape(passkey: bytes)),
            // Percent-decoded, any length (the rules judge it).
            ("/announce/a%2Fb?x=1", .pathAfter, .privateAnnounce(passkey: Array("a/b".utf8))),
            ("/announce/short?x=1", all, .privateAnnounce(passkey: Array("short".utf8))),
            // A form that is not configured is not a private route: the open one, or not found.
            ("/\(key)/announce?info_hash=x", .pathAfter, .notFound),
            ("/announce?info_hash=x&passkey=\(key)", .pathAfter, .announce),
            ("/announce/\(key)?info_hash=x", .query, .notFound),
            // One segment only, never empty.
            ("/announce/\(key)/extra?x=1", all, .notFound),
            ("/announce/?x=1", all, .notFound),
            ("//announce?x=1", all, .notFound),
            ("/a/b/announce?x=1", all, .notFound),
            ("/announce?info_hash=x", all, .announce),
            // The other routes are unchanged.
            ("/stats", all, .stats(.page)),
            ("/health", all, .health),
        ]
        for (target, forms, expected) in cases { #expect(Self.privateRequest(target, forms) == expected, "\(target)") }
        // Without forms (an open tracker) nothing is private.
        #expect(Self.request("/announce/\(key)?x=1") == .notFound)
    }
}
