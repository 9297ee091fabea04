import Foundation
import PrivateCore
import Testing
import TrackerCore
import TrackerProtocol
import TrackerServer
import TrackerTestSupport

/// Private mode end to end on real sockets: the site's API calls (the JSON UNIT3D's PHP helper
/// sends) fill the registry, and announces with passkey URLs get UNIT3D-Announce's answers.
@Suite struct PrivateModeTests {
    static let apiKey = "site-key-" + String(repeating: "0123456789", count: 3)
    static func passkey(_ n: Int) -> String { String(repeating: "a", count: 30) + (n < 10 ? "0\(n)" : "\(n)") }
    static func hash(_ b: UInt8) -> [UInt8] { [UInt8](repeating: b, count: 20) }
    static let agent = "User-Agent: qBittorrent/5.0.0"
    /// A peer_id that starts with `prefix` (a client's `-XX1234-`).
    static func peerID(_ prefix: String) -> [UInt8] { Array((prefix + String(repeating: "x", count: 20)).utf8.prefix(20)) }

    static func configure(_ c: inout SquallConfig) {
        c.privateMode.enabled = true
        c.privateMode.requireHTTPS = false
        c.admin.key = apiKey
        c.admin.listen = [ListenAddress(host: "127.0.0.1", port: 0)]
    }

    /// The site's calls for a small registry shaped like `seed-minimal.sql`.
    static func seed(_ t: RunningTracker) throws {
        let calls: [(String, String)] = [
            ("groups", #"{"id":3,"slug":"user","download_slots":null,"is_immune":false,"is_freeleech":false,"is_double_upload":false}"#),
            ("groups", #"{"id":5,"slug":"banned","download_slots":null,"is_immune":false,"is_freeleech":false,"is_double_upload":false}"#),
            ("groups", #"{"id":15,"slug":"leech","download_slots":1,"is_immune":false,"is_freeleech":false,"is_double_upload":false}"#),
        ]
        for (route, body) in calls { try put(t, route, body) }
        for (id, group, canDownload) in [(1, 3, true), (2, 3, true), (3, 3, true), (4, 3, false), (8, 5, true), (9, 15, true)] {
            try put(
                t, "users",
                #"{"id":\#(id),"group_id":\#(group),"passkey":"\#(passkey(id))","new_passkey":null,"can_download":\#(canDownload),"num_seeding":0,"num_leeching":0,"is_donor":false,"is_lifetime":false}"#
            )
        }
        for (id, status) in [(1, 1), (2, 0), (3, 2), (4, 3), (5, 1), (6, 1), (7, 1)] {
            let hex = hex20(hash(UInt8(id)))
            try put(
                t, "torrents",
                #"{"id":\#(id),"status":\#(status),"info_hash":"\#(hex)","is_deleted":false,"seeders":0,"leechers":0,"times_completed":0,"download_factor":100,"upload_factor":100}"#
            )
        }
        #expect(try t.admin("DELETE", "/announce/\(apiKey)/torrents", #"{"id":5,"info_hash":"\#(hex20(hash(5)))"}"#).status == 200)
        try put(t, "blacklisted-agents", #"{"peer_id_prefix":"-BC01"}"#)
    }

    static func put(_ t: RunningTracker, _ route: String, _ body: String) throws {
        let r = try t.admin("PUT", "/announce/\(apiKey)/\(route)", body)
        #expect(r.status == 200, "PUT \(route): \(r.status) \(String(decoding: r.body, as: UTF8.self))")
    }

    /// Announces with `user`'s passkey URL; the decoded reply.
    static func announce(
        _ t: RunningTracker, user: Int, torrent: UInt8 = 1, peer: String = "-qB5000-", host: String = "127.0.0.1", left: Int = 1,
        event: AnnounceEvent = .none, port: Int = 51413, key: String? = nil, headers: [String] = [agent]
    ) throws -> BencodeValue {
        let target = announceTarget(hash: hash(torrent), peer: peerID(peer), port: port, left: left, event: event, key: key)
            .replacingOccurrences(of: "/announce?", with: "/announce/\(passkey(user))?")
        let r = try t.get(host, target, headers: headers)
        #expect(r.status == 200)
        return try BencodeValue.decode(r.body)
    }

    static func failure(_ v: BencodeValue) -> String? { v["failure reason"]?.stringValue }
    static func warning(_ v: BencodeValue) -> String? { v["warning message"]?.stringValue }

    @Test func announcesFollowTheSitesRegistryWithUnit3dTexts() async throws {
        try await withRunningTracker(Self.configure) { t in
            try Self.seed(t)
            // A known user on an approved torrent; another user's seeder is listed to it.
            let seeder = try Self.announce(t, user: 2, peer: "-qB5000-seed", left: 0)
            #expect(Self.failure(seeder) == nil && seeder["complete"]?.intValue == 1)
            let leecher = try Self.announce(t, user: 1)
            #expect(leecher["complete"]?.intValue == 1 && leecher["incomplete"]?.intValue == 1)
            #expect(compactV4(leecher["peers"]).count == 1)
            // The rules, in UNIT3D-Announce's order and words.
            #expect(Self.failure(try Self.announce(t, user: 77)) == "Passkey does not exist. Please re-download the .torrent file.")
            #expect(Self.failure(try Self.announce(t, user: 1, torrent: 0x42)) == "InfoHash not found.")
            #expect(Self.failure(try Self.announce(t, user: 1, torrent: 5)) == "Torrent has been deleted.")
            let pending = try Self.announce(t, user: 77, torrent: 2)
            #expect(Self.warning(pending) == "Torrent is pending moderation." && pending["interval"]?.intValue == 30)
            #expect(
                Self.failure(try Self.announce(t, user: 1, peer: "-BC0100-")) == "Client is not acceptable. Please check our blacklist.")
            #expect(Self.failure(try Self.announce(t, user: 4)) == "Your downloading privileges have been disabled.")
            #expect(Self.failure(try Self.announce(t, user: 8)) == "Your account is not enabled. (Current: banned).")
            #expect(Self.failure(try Self.announce(t, user: 1, port: 80)) == "Illegal port: 80. Port should be between 6881-64999.")
            #expect(Self.failure(try Self.announce(t, user: 1, headers: [])) == "Invalid user agent.")
            #expect(
                Self.failure(try Self.announce(t, user: 1, headers: [Self.agent, "Accept-Language: en"])) == "Abnormal access blocked.")
            #expect(
                Self.failure(try Self.announce(t, user: 1, headers: ["User-Agent: Mozilla/5.0"]))
                    == "Browser, crawler or cheater is not allowed.")
            // aria2 sends want-digest; it is not refused for it.
            #expect(Self.failure(try Self.announce(t, user: 3, headers: ["User-Agent: aria2/1.36.0", "Want-Digest: SHA-256"])) == nil)
            // A refusal carries UNIT3D-Announce's intervals.
            let refused = try Self.announce(t, user: 77)
            #expect(refused["interval"]?.intValue == 5400 && refused["min interval"]?.intValue == 5400)
            // An open-mode URL is refused on a private tracker.
            let open = try BencodeValue.decode(try t.get("127.0.0.1", announceTarget(hash: Self.hash(1), peer: testPeer("x"))).body)
            #expect(Self.failure(open) == PrivateTexts.passkeyRequired)
            // A stop for a peer the tracker does not hold: a warning, not a failure.
            let stop = try Self.announce(t, user: 3, peer: "-TR4060-gone", event: .stopped)
            #expect(Self.warning(stop) == "Stopped peer doesn't exist." && stop["interval"]?.intValue == 5400)
        }
    }

    @Test func peersPerUserAndDownloadSlots() async throws {
        try await withRunningTracker(Self.configure) { t in
            try Self.seed(t)
            for i in 0..<3 { #expect(Self.failure(try Self.announce(t, user: 1, torrent: 6, peer: "-qB5000-\(i)")) == nil) }
            #expect(
                Self.failure(try Self.announce(t, user: 1, torrent: 6, peer: "-qB5000-3"))
                    == "You already have 3 peers on this torrent. Ignoring.")
            // Another user is not held to user 1's peers.
            #expect(Self.failure(try Self.announce(t, user: 2, torrent: 6, peer: "-qB5000-3")) == nil)
            // User 9's group has one download slot: a second torrent to leech gets the warning.
            #expect(Self.failure(try Self.announce(t, user: 9, torrent: 6)) == nil)
            let second = try Self.announce(t, user: 9, torrent: 7)
            #expect(Self.warning(second) == "Download slot limit reached" && compactV4(second["peers"]).isEmpty)
            // Seeding takes no slot; stopping the first frees it.
            #expect(Self.warning(try Self.announce(t, user: 9, torrent: 7, left: 0)) == nil)
            _ = try Self.announce(t, user: 9, torrent: 6, event: .stopped)
            #expect(Self.warning(try Self.announce(t, user: 9, torrent: 1, peer: "-qB5000-l")) == nil)
        }
    }

    @Test func minimumIntervalIsSilentButNotForADualStackPairOrAFirstCompletion() async throws {
        try await withRunningTracker(Self.configure) { t in
            try Self.seed(t)
            _ = try Self.announce(t, user: 2, peer: "-qB5000-seed", left: 0)
            _ = try Self.announce(t, user: 1, key: "k1")
            // The same peer over IPv6 five seconds on: one peer, answered in full.
            t.clock.advance(by: 5)
            let paired = try Self.announce(t, user: 1, host: "::1", key: "k1")
            #expect(paired["complete"]?.intValue == 1 && paired["incomplete"]?.intValue == 1)
            #expect(compactV4(paired["peers"]).count == 1)
            // Again within the enforced interval: counted, answered, nothing listed.
            t.clock.advance(by: 60)
            let early = try Self.announce(t, user: 1, key: "k1")
            #expect(Self.failure(early) == nil && Self.warning(early) == nil)
            #expect(early["complete"]?.intValue == 0 && early["incomplete"]?.intValue == 0 && compactV4(early["peers"]).isEmpty)
            // Its first completion is answered in full however soon.
            let done = try Self.announce(t, user: 1, left: 0, event: .completed, key: "k1")
            #expect(done["complete"]?.intValue == 2)
            // After the interval, lists again.
            t.clock.advance(by: 1740)
            #expect(try Self.announce(t, user: 1, key: "k1")["complete"]?.intValue == 1)
        }
    }

    @Test func siteAPIStatusCodesAndReads() async throws {
        try await withRunningTracker(Self.configure) { t in
            let k = Self.apiKey
            try Self.seed(t)
            #expect(try t.admin("PUT", "/announce/\(k)/groups", "{}", contentType: nil).status == 415)
            #expect(try t.admin("PUT", "/announce/\(k)/groups", "{nope").status == 400)
            #expect(try t.admin("PUT", "/announce/\(k)/groups", #"{"id":"three"}"#).status == 422)
            #expect(
                try t.admin(
                    "PUT", "/announce/\(k)/torrents",
                    #"{"id":1,"status":9,"info_hash":"00","is_deleted":false,"seeders":0,"leechers":0,"times_completed":0,"download_factor":100,"upload_factor":100}"#
                ).status == 422)
            #expect(
                try t.admin(
                    "PUT", "/announce/\(k)/torrents",
                    #"{"id":1,"status":1,"info_hash":"00","is_deleted":false,"seeders":0,"leechers":0,"times_completed":0,"download_factor":100,"upload_factor":100}"#
                ).status == 400)
            #expect(try t.admin("DELETE", "/announce/\(k)/torrents", #"{"id":999}"#).status == 400)
            #expect(try t.admin("DELETE", "/announce/\(k)/users", #"{"id":999,"passkey":"\#(Self.passkey(99))"}"#).status == 200)
            #expect(
                try t.admin(
                    "PUT", "/announce/\(k)/users",
                    #"{"id":1,"group_id":3,"passkey":"short","new_passkey":null,"can_download":true,"num_seeding":0,"num_leeching":0,"is_donor":false,"is_lifetime":false}"#
                ).status == 400)
            // A wrong key is a path like any unknown one.
            #expect(try t.admin("PUT", "/announce/\(k)x/groups", "{}").status == 404)
            #expect(try t.admin("GET", "/announce/\(k)/users/12345").status == 404)
            #expect(try t.admin("GET", "/announce/\(k)/users/x").status == 400)
            #expect(try t.admin("POST", "/announce/\(k)/torrents", "{}").status == 405)
            #expect(String(decoding: try t.admin("GET", "/announce/health/ping").body, as: UTF8.self) == "PONG")
            // GET /users: what the site's profile page checks, floats with a fraction.
            let user = try t.admin("GET", "/announce/\(k)/users/1")
            let text = String(decoding: user.body, as: UTF8.self)
            #expect(user.status == 200 && text.contains(#""passkey":"\#(Self.passkey(1))""#) && text.contains(#""window":60.0"#))
            let json = try JSONSerialization.jsonObject(with: Data(user.body)) as? [String: Any]
            #expect(json?["group_id"] as? Int == 3)
            // GET /torrents: the torrent and its peers keyed user-PEERIDHEX.
            _ = try Self.announce(t, user: 1)
            let torrent = String(decoding: try t.admin("GET", "/announce/\(k)/torrents/1").body, as: UTF8.self)
            #expect(torrent.contains(#""status":"Approved""#) && torrent.contains("\"1-\(hex20(Self.peerID("-qB5000-")).uppercased())\""))
            let stats = String(decoding: try t.admin("GET", "/announce/\(k)/stats").body, as: UTF8.self)
            #expect(stats.contains("\"requests_per_1s\":") && stats.contains("\"announce_responses_per_7200s\":"))
        }
    }

    @Test func aPasskeyChangeAndABanTakeEffectOnTheNextAnnounce() async throws {
        try await withRunningTracker(Self.configure) { t in
            try Self.seed(t)
            #expect(Self.failure(try Self.announce(t, user: 1)) == nil)
            try Self.put(
                t, "users",
                #"{"id":1,"group_id":3,"passkey":"\#(Self.passkey(1))","new_passkey":"\#(Self.passkey(51))","can_download":true,"num_seeding":0,"num_leeching":0,"is_donor":false,"is_lifetime":false}"#
            )
            #expect(Self.failure(try Self.announce(t, user: 1)) == "Passkey does not exist. Please re-download the .torrent file.")
            #expect(Self.failure(try Self.announce(t, user: 51)) == nil)
            try Self.put(
                t, "users",
                #"{"id":1,"group_id":5,"passkey":"\#(Self.passkey(51))","new_passkey":null,"can_download":true,"num_seeding":0,"num_leeching":0,"is_donor":false,"is_lifetime":false}"#
            )
            #expect(Self.failure(try Self.announce(t, user: 51)) == "Your account is not enabled. (Current: banned).")
        }
    }

    @Test func privateScrapeNeedsAPasskeyAndShowsApprovedTorrentsOnly() async throws {
        try await withRunningTracker(Self.configure) { t in
            try Self.seed(t)
            _ = try Self.announce(t, user: 1)
            func scrape(_ user: Int, _ hashes: [UInt8]) throws -> BencodeValue {
                let q = hashes.map { "info_hash=" + PercentDecoding.encode(Self.hash($0), everyByte: true) }.joined(separator: "&")
                return try BencodeValue.decode(try t.get("127.0.0.1", "/scrape/\(Self.passkey(user))?\(q)", headers: [Self.agent]).body)
            }
            let files = try scrape(1, [1, 2, 0x42])["files"]
            #expect(files?[String(decoding: Self.hash(1), as: UTF8.self)]?["incomplete"]?.intValue == 1)
            #expect(files?[String(decoding: Self.hash(2), as: UTF8.self)] == nil)
            #expect(Self.failure(try scrape(77, [1])) == "Passkey does not exist. Please re-download the .torrent file.")
            #expect(Self.failure(try scrape(8, [1])) == "Your account is not enabled. (Current: banned).")
        }
    }

    /// UNIT3D's own tables on a real MariaDB: the startup load, then the announces the rules
    /// decide from it, then the site's calls changing it.
    @Test func aUnit3dSitesDatabaseIsLoadedAndServed() async throws {
        let db = try MariaDBServer()
        try db.loadUNIT3DFixture()
        let registry = try await PrivateTracker.loadUNIT3D(try #require(DatabaseURL(db.url)))
        try await withRunningTracker(registry: registry, Self.configure) { t in
            #expect(Self.failure(try Self.announce(t, user: 1)) == nil)
            #expect(Self.failure(try Self.announce(t, user: 5)) == "Passkey does not exist. Please re-download the .torrent file.")
            #expect(Self.failure(try Self.announce(t, user: 1, torrent: 5)) == "Torrent has been deleted.")
            #expect(Self.warning(try Self.announce(t, user: 1, torrent: 2)) == "Torrent is pending moderation.")
            #expect(Self.warning(try Self.announce(t, user: 1, torrent: 3)) == "Torrent has been rejected.")
            #expect(Self.warning(try Self.announce(t, user: 1, torrent: 4)) == "Torrent has been postponed.")
            #expect(Self.failure(try Self.announce(t, user: 8)) == "Your account is not enabled. (Current: banned).")
            #expect(Self.failure(try Self.announce(t, user: 4)) == "Your downloading privileges have been disabled.")
            #expect(
                Self.failure(try Self.announce(t, user: 2, peer: "-BC0100-")) == "Client is not acceptable. Please check our blacklist.")
            // The site verifies user 5 again (its helper's addUser), then approves torrent 2.
            try Self.put(
                t, "users",
                #"{"id":5,"group_id":3,"passkey":"\#(Self.passkey(5))","new_passkey":null,"can_download":true,"num_seeding":0,"num_leeching":0,"is_donor":false,"is_lifetime":false}"#
            )
            #expect(Self.failure(try Self.announce(t, user: 5)) == nil)
            try Self.put(
                t, "torrents",
                #"{"id":2,"status":1,"info_hash":"\#(hex20(Self.hash(2)))","is_deleted":false,"seeders":0,"leechers":0,"times_completed":0,"download_factor":100,"upload_factor":100}"#
            )
            #expect(Self.warning(try Self.announce(t, user: 1, torrent: 2)) == nil)
            // The site removes the blacklist entry it added (by name, as its helper does) and
            // the loaded prefix stays, as at UNIT3D-Announce.
            #expect(
                try t.admin("DELETE", "/announce/\(Self.apiKey)/blacklisted-agents", #"{"peer_id_prefix":"Bad Client 1.x"}"#).status == 200)
            #expect(
                Self.failure(try Self.announce(t, user: 2, peer: "-BC0100-")) == "Client is not acceptable. Please check our blacklist.")
        }
    }

    @Test func peerListRateLimitsLeaveListsOutAndShowInStatsJSON() async throws {
        try await withRunningTracker({ c in
            Self.configure(&c)
            c.privateMode.minIntervalEnforced = 0
            c.privateMode.seedListLimits = [ListRateLimit(window: 600, max: 2)]
        }) { t in
            try Self.seed(t)
            _ = try Self.announce(t, user: 2, peer: "-qB5000-seed", left: 0)
            for _ in 0..<2 {
                let r = try Self.announce(t, user: 1)
                #expect(r["complete"]?.intValue == 1 && compactV4(r["peers"]).count == 1)
            }
            // The third seed list within the window is left out, and complete reads 0.
            let third = try Self.announce(t, user: 1)
            #expect(third["complete"]?.intValue == 0 && compactV4(third["peers"]).isEmpty && third["incomplete"]?.intValue == 1)
            // Another user has a rate of its own.
            #expect(try Self.announce(t, user: 3)["complete"]?.intValue == 1)
            let stats = String(decoding: try t.get("::1", "/stats.json").body, as: UTF8.self)
            #expect(
                stats.contains(
                    #""private":{"users":6,"torrents":7,"groups":3,"list_rate_limits":{"seed":[{"window":600.0,"max":2.0,"refused":1}]"#),
                "\(stats)")
        }
    }

    /// BEP 52: a hybrid torrent is one torrent under both hashes; a client announcing both (as
    /// libtorrent does, with one peer_id) gets the second reply in full, though the list rate
    /// would refuse it.
    @Test func aHybridTorrentsSecondHashIsOnePeersPair() async throws {
        try await withRunningTracker({ c in
            Self.configure(&c)
            c.privateMode.seedListLimits = [ListRateLimit(window: 600, max: 1)]
        }) { t in
            try Self.seed(t)
            let (v1, v2) = (Self.hash(0x31), Self.hash(0x32))
            try Self.put(
                t, "torrents",
                #"{"id":31,"status":1,"info_hash":"\#(hex20(v1))","info_hash_v2":"\#(hex20(v2))\#(String(repeating: "ab", count: 12))","is_deleted":false,"seeders":0,"leechers":0,"times_completed":0,"download_factor":100,"upload_factor":100}"#
            )
            // A seeder under each hash (the swarms stay apart).
            _ = try Self.announce(t, user: 2, torrent: 0x31, peer: "-qB5000-seed", left: 0)
            _ = try Self.announce(t, user: 2, torrent: 0x32, peer: "-qB5000-seed", left: 0)
            let first = try Self.announce(t, user: 1, torrent: 0x31)
            #expect(first["complete"]?.intValue == 1 && compactV4(first["peers"]).count == 1)
            t.clock.advance(by: 3)
            let second = try Self.announce(t, user: 1, torrent: 0x32)
            #expect(second["complete"]?.intValue == 1 && compactV4(second["peers"]).count == 1, "the pair's second announce is listed")
            // A third seed list, not a pair: refused by the rate (and the one leecher there is
            // user 1's own, never listed to it).
            let third = try Self.announce(t, user: 1, torrent: 0x31, peer: "-qB5000-other")
            #expect(third["complete"]?.intValue == 0 && compactV4(third["peers"]).isEmpty)
        }
    }

    @Test func aUsersOwnPeersAreNotListedToIt() async throws {
        try await withRunningTracker(Self.configure) { t in
            try Self.seed(t)
            _ = try Self.announce(t, user: 1, peer: "-qB5000-home", left: 0)
            _ = try Self.announce(t, user: 2, peer: "-qB5000-else", left: 0)
            // User 1's second client sees the other user's seeder only, though both are counted.
            let r = try Self.announce(t, user: 1, peer: "-qB5000-box")
            #expect(r["complete"]?.intValue == 2 && compactV4(r["peers"]).count == 1)
            let other = try Self.announce(t, user: 3, peer: "-qB5000-new")
            #expect(compactV4(other["peers"]).count == 3)
        }
    }
}
