public import Testing
public import TrackerCore

/// What a conformance case needs to build a fresh, empty store.
public struct StoreFixture: Sendable {
    public let clock: ManualTrackerClock
    public let store: any PeerStore
    /// Seconds an endpoint lives without an announce, as the store was built with.
    public let ttl: UInt32
    public init(clock: ManualTrackerClock, store: any PeerStore, ttl: UInt32) {
        (self.clock, self.store, self.ttl) = (clock, store, ttl)
    }
}

/// The contract of `PeerStore`, as one list of cases every backend runs:
///
/// ```swift
/// @Test(arguments: StoreConformance.cases)
/// func conformance(_ c: StoreConformance.Case) async throws { try await c.run(makeFixture) }
/// ```
public enum StoreConformance {
    public struct Case: Sendable, CustomTestStringConvertible {
        public let name: String
        /// The case announces with users (private mode): a store that keeps users apart only
        /// when told to (the Redis store's `users` layout) must be built for them.
        public let users: Bool
        let body: @Sendable (StoreFixture) async throws -> Void
        public var testDescription: String { name }
        init(name: String, users: Bool = false, body: @escaping @Sendable (StoreFixture) async throws -> Void) {
            (self.name, self.users, self.body) = (name, users, body)
        }
        public func run(_ make: @Sendable () async throws -> StoreFixture) async throws {
            try await body(try await make())
        }
    }

    public static let cases: [Case] = [
        Case(name: "first announce is counted and gets no peers", body: firstAnnounce),
        Case(name: "a seeder gets no seeders, a leecher gets both", body: seederGetsNoSeeders),
        Case(name: "numwant caps the sample, never the requester", body: numwantCaps),
        Case(name: "samples are random", body: samplesAreRandom),
        Case(name: "completed counts once per peer", body: completedOnce),
        Case(name: "stopped removes the peer", body: stoppedRemoves),
        Case(name: "role changes keep counts exact", body: roleChanges),
        Case(name: "a dual-stack peer is one peer with two endpoints", body: dualStackMerge),
        Case(name: "peers expire after the TTL", body: expiry),
        Case(name: "an endpoint expires on its own", body: endpointExpiry),
        Case(name: "an endpoint expires exactly ttl seconds after its announce", body: expiryBoundary),
        Case(name: "a longer TTL keeps endpoints longer, a shorter one changes nothing", body: extendedTTL),
        Case(name: "scrape reports known torrents only, with downloaders", body: scrape),
        Case(name: "totals add up", body: totals),
        Case(name: "binary info_hash and peer_id bytes", body: binaryKeys),
        Case(name: "large swarms stay consistent through churn", body: churn),
        Case(name: "statistics rows and peers", body: statisticsRows),
        Case(name: "a stranger naming a peer changes nothing", body: strangerChangesNothing),
        Case(name: "the peer's key moves and merges its endpoints", body: keyMovesAndMerges),
        Case(name: "without a key only the recorded address owns an endpoint", body: addressOwnsWithoutKey),
        Case(name: "stopped from a recorded address drops that endpoint", body: stopDropsOneEndpoint),
        Case(name: "a peer gone past its TTL is taken over by its peer_id", body: expiredPeerTakenOver),
        Case(name: "a source holds a bounded number of endpoints per torrent", body: peersPerSourceQuota),
        Case(name: "new torrents need the source's permission", body: newTorrentPermission),
        // Private mode: a user with each peer.
        Case(name: "one peer_id under two users is two peers", users: true, body: usersSeparatePeers),
        Case(name: "ownership holds within a user", users: true, body: ownershipWithinUser),
        Case(name: "a user holds a bounded number of peers per torrent", users: true, body: peersPerUserQuota),
        Case(name: "a new peer needs permission when slots are full", users: true, body: newPeerPermission),
        Case(name: "the reply tells what the peer was", users: true, body: pastOfThePeer),
        Case(name: "seeders lead the sample and are counted", body: seedersLeadTheSample),
    ]

    // MARK: helpers

    static func hash(_ n: Int) -> InfoHash {
        InfoHash(Bytes20(w0: 0x5153_5351, w1: UInt32(n), w2: 0, w3: 0xA5A5_A5A5, w4: UInt32(n) &* 2_654_435_761))
    }
    static func peer(_ n: Int) -> PeerID {
        PeerID(Bytes20(w0: 0x2D71_4234, w1: 0x3635_302D, w2: UInt32(n), w3: UInt32(n) &* 40503, w4: 7))
    }
    static func v4(_ n: Int, port: UInt16 = 6881) -> Endpoint {
        Endpoint(address: .v4(IPv4Address(10, UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF))), port: port)
    }
    /// An IPv6 endpoint in the /64 `2001:db8:0:n >> 16::/64`, so that `v6(n)` for n below 65536
    /// are all one source.
    static func v6(_ n: Int, port: UInt16 = 6881) -> Endpoint {
        Endpoint(address: .v6(IPv6Address(high: 0x2001_0db8_0000_0000 | UInt64(n >> 16), low: UInt64(n))), port: port)
    }
    static func key(_ n: Int) -> PeerKey { PeerKey(bytes: Array("key-\(n)".utf8)) }

    @discardableResult
    static func announce(
        _ s: any PeerStore, _ h: InfoHash, _ p: PeerID, _ e: Endpoint, _ role: PeerRole = .leecher,
        numwant: Int = 50, completed: Bool = false, stop: Bool = false, key: PeerKey = .none, quota: SourceQuota = .unlimited,
        user: UInt32 = 0
    ) async throws -> SwarmReply {
        try await s.announce(
            PeerAnnounce(
                infoHash: h, peerID: p, endpoint: e, role: role, countsDownload: completed, remove: stop, numwant: numwant, key: key,
                quota: quota, user: user))
    }

    /// What the store answers, failures included.
    static func attempt(
        _ s: any PeerStore, _ h: InfoHash, _ p: PeerID, _ e: Endpoint, _ role: PeerRole = .leecher, key: PeerKey = .none,
        quota: SourceQuota = .unlimited, user: UInt32 = 0
    ) async -> Result<SwarmReply, StoreError> {
        do throws(StoreError) {
            return .success(
                try await s.announce(
                    PeerAnnounce(infoHash: h, peerID: p, endpoint: e, role: role, numwant: 50, key: key, quota: quota, user: user)))
        } catch {
            return .failure(error)
        }
    }

    // MARK: cases

    static func firstAnnounce(_ f: StoreFixture) async throws {
        let r = try await announce(f.store, hash(1), peer(1), v4(1))
        #expect(r.complete == 0 && r.incomplete == 1 && r.downloaded == 0)
        #expect(r.peers.isEmpty)
        let s = try await announce(f.store, hash(1), peer(2), v4(2), .seeder)
        #expect(s.complete == 1 && s.incomplete == 1)
        #expect(s.peers.map(\.peerID) == [peer(1)])
    }

    static func seederGetsNoSeeders(_ f: StoreFixture) async throws {
        for i in 0..<3 { try await announce(f.store, hash(2), peer(i), v4(i), .seeder) }
        for i in 3..<5 { try await announce(f.store, hash(2), peer(i), v4(i), .leecher) }
        try await announce(f.store, hash(2), peer(5), v4(5), .partialSeed)
        let seeder = try await announce(f.store, hash(2), peer(0), v4(0), .seeder)
        #expect(Set(seeder.peers.map(\.peerID)) == [peer(3), peer(4), peer(5)])
        let partial = try await announce(f.store, hash(2), peer(5), v4(5), .partialSeed)
        #expect(Set(partial.peers.map(\.peerID)) == [peer(3), peer(4)])
        let leecher = try await announce(f.store, hash(2), peer(3), v4(3), .leecher)
        #expect(Set(leecher.peers.map(\.peerID)) == Set([0, 1, 2, 4, 5].map(peer)))
        #expect(leecher.complete == 3 && leecher.incomplete == 3)
    }

    static func numwantCaps(_ f: StoreFixture) async throws {
        for i in 0..<100 { try await announce(f.store, hash(3), peer(i), v4(i), i % 3 == 0 ? .seeder : .leecher) }
        for want in [0, 1, 10, 98, 99, 150] {
            let r = try await announce(f.store, hash(3), peer(7), v4(7), .leecher, numwant: want)
            #expect(r.peers.count == min(want, 99), "numwant \(want)")
            #expect(Set(r.peers.map(\.peerID)).count == r.peers.count, "distinct peers, numwant \(want)")
            #expect(!r.peers.contains { $0.peerID == peer(7) }, "never the requester, numwant \(want)")
        }
        let seederView = try await announce(f.store, hash(3), peer(0), v4(0), .seeder, numwant: 200)
        #expect(seederView.peers.count == 66)
    }

    static func samplesAreRandom(_ f: StoreFixture) async throws {
        for i in 0..<60 { try await announce(f.store, hash(4), peer(i), v4(i)) }
        var seen = Set<PeerID>()
        var distinctSamples = Set<[PeerID]>()
        for _ in 0..<60 {
            let r = try await announce(f.store, hash(4), peer(0), v4(0), numwant: 5)
            seen.formUnion(r.peers.map(\.peerID))
            distinctSamples.insert(r.peers.map(\.peerID).sorted { $0.raw.hex < $1.raw.hex })
        }
        // 60 draws of 5 from 59: every peer is missed with probability (54/59)^60 ~ 0.5 %.
        #expect(seen.count >= 50)
        #expect(distinctSamples.count >= 55)
    }

    static func completedOnce(_ f: StoreFixture) async throws {
        try await announce(f.store, hash(5), peer(1), v4(1))
        var r = try await announce(f.store, hash(5), peer(1), v4(1), .seeder, completed: true)
        #expect(r.downloaded == 1 && r.complete == 1 && r.incomplete == 0)
        r = try await announce(f.store, hash(5), peer(1), v4(1), .seeder, completed: true)
        #expect(r.downloaded == 1)
        r = try await announce(f.store, hash(5), peer(2), v6(2), .seeder, completed: true)
        #expect(r.downloaded == 2)
        let scraped = try await f.store.scrape([hash(5)])
        #expect(scraped[hash(5)]?.downloaded == 2)
    }

    static func stoppedRemoves(_ f: StoreFixture) async throws {
        try await announce(f.store, hash(6), peer(1), v4(1), .seeder)
        try await announce(f.store, hash(6), peer(2), v4(2))
        let r = try await announce(f.store, hash(6), peer(1), v4(1), .seeder, stop: true)
        #expect(r.peers.isEmpty)
        #expect(r.complete == 0 && r.incomplete == 1)
        let other = try await announce(f.store, hash(6), peer(2), v4(2))
        #expect(other.peers.isEmpty && other.complete == 0)
        let unknown = try await announce(f.store, hash(66), peer(1), v4(1), stop: true)
        #expect(unknown.complete == 0 && unknown.incomplete == 0 && unknown.peers.isEmpty)
        #expect(try await f.store.scrape([hash(66)]).isEmpty, "a stop must not create a torrent")
    }

    static func roleChanges(_ f: StoreFixture) async throws {
        for i in 0..<40 { try await announce(f.store, hash(7), peer(i), v4(i)) }
        for i in 0..<40 where i % 2 == 0 { try await announce(f.store, hash(7), peer(i), v4(i), .seeder) }
        var r = try await announce(f.store, hash(7), peer(1), v4(1))
        #expect(r.complete == 20 && r.incomplete == 20)
        for i in 0..<10 { try await announce(f.store, hash(7), peer(i * 2), v4(i * 2), .leecher) }
        r = try await announce(f.store, hash(7), peer(1), v4(1), .partialSeed)
        #expect(r.complete == 10 && r.incomplete == 30)
        let s = try await f.store.scrape([hash(7)])
        #expect(s[hash(7)] == ScrapeEntry(complete: 10, incomplete: 30, downloaded: 0, downloaders: 29))
    }

    static func dualStackMerge(_ f: StoreFixture) async throws {
        try await announce(f.store, hash(8), peer(1), v4(1, port: 7001), .seeder, key: key(1))
        let r = try await announce(f.store, hash(8), peer(1), v6(1, port: 7002), .seeder, key: key(1))
        #expect(r.complete == 1 && r.incomplete == 0, "counted once")
        let l = try await announce(f.store, hash(8), peer(2), v6(2))
        #expect(l.peers == [SwarmPeer(peerID: peer(1), v4: v4(1, port: 7001), v6: v6(1, port: 7002))])
        // A new IPv4 address replaces the old one; the IPv6 endpoint stays.
        try await announce(f.store, hash(8), peer(1), v4(9, port: 7003), .seeder, key: key(1))
        let again = try await announce(f.store, hash(8), peer(2), v4(2))
        #expect(again.peers == [SwarmPeer(peerID: peer(1), v4: v4(9, port: 7003), v6: v6(1, port: 7002))])
        #expect(again.complete == 1 && again.incomplete == 1)
    }

    static func expiry(_ f: StoreFixture) async throws {
        for i in 0..<30 { try await announce(f.store, hash(9), peer(i), v4(i)) }
        try await announce(f.store, hash(10), peer(1), v6(1))
        f.clock.advance(by: f.ttl - 1)
        #expect(try await f.store.totals().peers == 31)
        for i in 0..<5 { try await announce(f.store, hash(9), peer(i), v4(i)) }
        f.clock.advance(by: 2)
        // Lazily, on the next touch of the torrent:
        let r = try await announce(f.store, hash(9), peer(0), v4(0), numwant: 100)
        #expect(r.incomplete == 5)
        #expect(Set(r.peers.map(\.peerID)) == Set((1..<5).map(peer)))
        // And in the background, for a torrent nobody touches:
        try await f.store.expire()
        let t = try await f.store.totals()
        #expect(t.peers == 5 && t.torrents == 1)
        #expect(try await f.store.scrape([hash(10)]).isEmpty)
    }

    static func endpointExpiry(_ f: StoreFixture) async throws {
        try await announce(f.store, hash(11), peer(1), v4(1), .seeder, key: key(1))
        try await announce(f.store, hash(11), peer(1), v6(1), .seeder, key: key(1))
        f.clock.advance(by: f.ttl / 2 + 1)
        try await announce(f.store, hash(11), peer(1), v4(1), .seeder)
        f.clock.advance(by: f.ttl / 2 + 1)
        try await f.store.expire()
        let r = try await announce(f.store, hash(11), peer(2), v4(2))
        #expect(r.peers == [SwarmPeer(peerID: peer(1), v4: v4(1), v6: nil)])
        #expect(r.complete == 1)
    }

    static func expiryBoundary(_ f: StoreFixture) async throws {
        try await announce(f.store, hash(16), peer(1), v4(1))
        f.clock.advance(by: f.ttl - 1)
        try await f.store.expire()
        #expect(try await f.store.totals().peers == 1, "one second before: still there")
        f.clock.advance(by: 1)
        try await f.store.expire()
        #expect(try await f.store.totals() == SwarmTotals(), "at ttl: gone")
    }

    static func extendedTTL(_ f: StoreFixture) async throws {
        try await announce(f.store, hash(17), peer(1), v4(1))
        f.store.extendPeerTTL(to: Int(f.ttl) * 2)
        f.store.extendPeerTTL(to: Int(f.ttl) / 2)
        f.clock.advance(by: f.ttl)
        try await f.store.expire()
        #expect(try await f.store.totals().peers == 1, "past the first TTL: still there")
        let r = try await announce(f.store, hash(17), peer(2), v4(2))
        #expect(r.peers.map(\.peerID) == [peer(1)], "and listed")
        f.clock.advance(by: f.ttl)
        try await f.store.expire()
        #expect(try await f.store.totals().peers == 1, "at twice the TTL the first is gone, the second not")
    }

    static func scrape(_ f: StoreFixture) async throws {
        try await announce(f.store, hash(12), peer(1), v4(1), .seeder, completed: true)
        try await announce(f.store, hash(12), peer(2), v4(2), .leecher)
        try await announce(f.store, hash(12), peer(3), v4(3), .partialSeed)
        try await announce(f.store, hash(13), peer(1), v6(1), .leecher)
        let s = try await f.store.scrape([hash(12), hash(13), hash(14)])
        #expect(s.count == 2)
        #expect(s[hash(12)] == ScrapeEntry(complete: 1, incomplete: 2, downloaded: 1, downloaders: 1))
        #expect(s[hash(13)] == ScrapeEntry(complete: 0, incomplete: 1, downloaded: 0, downloaders: 1))
        let all = try await f.store.scrapeAll(limit: 10)
        #expect(all.count == 2)
        #expect(try await f.store.scrapeAll(limit: 1).count == 1)
    }

    static func totals(_ f: StoreFixture) async throws {
        #expect(try await f.store.totals() == SwarmTotals())
        for t in 0..<5 {
            for i in 0..<(t + 1) { try await announce(f.store, hash(100 + t), peer(i), v4(i), i == 0 ? .seeder : .leecher, key: key(i)) }
        }
        try await announce(f.store, hash(100), peer(0), v6(0), .seeder, key: key(0))
        try await announce(f.store, hash(101), peer(9), v6(9))
        let all = SwarmTotals(torrents: 5, peers: 16, seeders: 5, leechers: 11, ipv4Endpoints: 15, ipv6Endpoints: 2)
        #expect(try await f.store.totals() == all)
        #expect(all.ipv4Only == 14 && all.ipv6Only == 1 && all.dualStack == 1)
        try await announce(f.store, hash(104), peer(3), v4(3), stop: true)
        #expect(
            try await f.store.totals()
                == SwarmTotals(torrents: 5, peers: 15, seeders: 5, leechers: 10, ipv4Endpoints: 14, ipv6Endpoints: 2))
        // Endpoints that expire leave the family counts too: only peer 0's fresh IPv6 one stays.
        f.clock.advance(by: f.ttl - 10)
        try await announce(f.store, hash(100), peer(0), v6(0), .seeder, key: key(0))
        f.clock.advance(by: 20)
        try await f.store.expire()
        #expect(
            try await f.store.totals() == SwarmTotals(torrents: 1, peers: 1, seeders: 1, leechers: 0, ipv4Endpoints: 0, ipv6Endpoints: 1))
    }

    static func statisticsRows(_ f: StoreFixture) async throws {
        #expect(try await f.store.torrentRows().isEmpty)
        let a = hash(300), b = hash(301)
        try await announce(f.store, a, peer(0), v4(0), .seeder)
        f.clock.advance(by: 5)
        try await announce(f.store, a, peer(1), v6(1), key: key(1))
        try await announce(f.store, a, peer(1), v4(1), completed: true, key: key(1))
        try await announce(f.store, a, peer(2), v4(2), .partialSeed)
        try await announce(f.store, b, peer(3), v4(3))
        let rows = try await f.store.torrentRows()
        #expect(rows.count == 2)
        #expect(
            rows.first { $0.infoHash == a }
                == TorrentRow(infoHash: a, seeders: 1, leechers: 2, completed: 1, ipv4: 3, ipv6: 1, idle: 0))
        #expect(rows.first { $0.infoHash == b }?.leechers == 1)

        let peers = try #require(try await f.store.peerRows(of: a))
        #expect(peers.count == 3 && peers.first?.role == .seeder && peers.first?.peerID == peer(0))
        let dual = try #require(peers.first { $0.peerID == peer(1) })
        #expect(dual.role == .leecher && dual.v4 == v4(1) && dual.v6 == v6(1) && dual.idle == 0)
        #expect(peers.first { $0.peerID == peer(2) }?.role == .partialSeed)
        #expect(try await f.store.peerRows(of: a, limit: 2)?.count == 2)
        #expect(try await f.store.peerRows(of: hash(302)) == nil)
        f.clock.advance(by: 7)
        #expect(try await f.store.torrentRows().first { $0.infoHash == a }?.idle == 7)
        #expect(try await f.store.peerRows(of: b)?.first?.idle == 7)
    }

    static func binaryKeys(_ f: StoreFixture) async throws {
        let h = InfoHash([0, 0, 0, 0xFF, 0x25, 0x26, 0x3D, 0x2B, 0x20, 0, 0x80, 0xFE, 1, 2, 3, 4, 5, 6, 7, 0])!
        let h2 = InfoHash([0, 0, 0, 0xFF, 0x25, 0x26, 0x3D, 0x2B, 0x20, 0, 0x80, 0xFE, 1, 2, 3, 4, 5, 6, 7, 1])!
        let p = PeerID([UInt8](repeating: 0, count: 19) + [0xFF])!
        try await announce(f.store, h, p, v4(1), .seeder)
        let r = try await announce(f.store, h, peer(2), v4(2))
        #expect(r.peers.map(\.peerID) == [p])
        #expect(try await f.store.scrape([h2]).isEmpty)
        #expect(try await f.store.scrape([h])[h]?.complete == 1)
    }

    static func churn(_ f: StoreFixture) async throws {
        let n = 300
        for i in 0..<n {
            try await announce(f.store, hash(15), peer(i), i % 2 == 0 ? v4(i) : v6(i), i % 5 == 0 ? .seeder : .leecher, key: key(i))
        }
        for i in stride(from: 0, to: n, by: 3) { try await announce(f.store, hash(15), peer(i), v4(i), stop: true, key: key(i)) }
        for i in stride(from: 1, to: n, by: 3) { try await announce(f.store, hash(15), peer(i), v4(i), .seeder, key: key(i)) }
        // Every survivor is still found: re-announcing adds no peer.
        var expectedSeeders = 0, expectedPeers = 0
        for i in 0..<n where i % 3 != 0 {
            expectedPeers += 1
            if i % 3 == 1 || i % 5 == 0 { expectedSeeders += 1 }
        }
        for i in 0..<n where i % 3 == 2 {
            try await announce(f.store, hash(15), peer(i), v4(i), i % 5 == 0 ? .seeder : .leecher, key: key(i))
        }
        let r = try await announce(f.store, hash(15), peer(2), v4(2), .leecher, numwant: 1000, key: key(2))
        #expect(r.complete + r.incomplete == expectedPeers)
        #expect(r.complete == expectedSeeders)
        #expect(r.peers.count == expectedPeers - 1)
        #expect(Set(r.peers.map(\.peerID)).count == expectedPeers - 1)
        for i in 0..<n where i % 3 != 0 { try await announce(f.store, hash(15), peer(i), v4(i), stop: true, key: key(i)) }
        #expect(try await f.store.totals().peers == 0)
    }

    // MARK: ownership and quotas

    static func strangerChangesNothing(_ f: StoreFixture) async throws {
        let h = hash(400)
        try await announce(f.store, h, peer(1), v4(1), key: key(1))
        try await announce(f.store, h, peer(2), v4(2), .seeder)
        // Another address, with no key or the wrong one: answered, recorded nowhere.
        for k in [PeerKey.none, key(99)] {
            let stop = try await announce(f.store, h, peer(1), v4(50), stop: true, key: k)
            #expect(stop.recorded == false && stop.complete == 1 && stop.incomplete == 1)
            let done = try await announce(f.store, h, peer(1), v4(50), .seeder, completed: true, key: k)
            #expect(done.recorded == false && done.downloaded == 0 && done.complete == 1 && done.incomplete == 1)
            let look = try await announce(f.store, h, peer(1), v4(50), key: k)
            #expect(look.recorded == false)
            #expect(look.peers.map(\.peerID) == [peer(2)], "a stranger is answered with others, never the peer it named")
            let v6 = try await announce(f.store, h, peer(1), v6(50), key: k)
            #expect(v6.recorded == false)
        }
        let view = try await announce(f.store, h, peer(3), v4(3))
        #expect(view.peers.first { $0.peerID == peer(1) } == SwarmPeer(peerID: peer(1), v4: v4(1), v6: nil))
        #expect(view.downloaded == 0 && view.complete == 1 && view.incomplete == 2)
        let t = try await f.store.totals()
        #expect(t.peers == 3 && t.ipv4Endpoints == 3 && t.ipv6Endpoints == 0)
    }

    static func keyMovesAndMerges(_ f: StoreFixture) async throws {
        let h = hash(401)
        try await announce(f.store, h, peer(1), v4(1), key: key(1))
        let moved = try await announce(f.store, h, peer(1), v4(9, port: 7000), key: key(1))
        #expect(moved.recorded)
        let merged = try await announce(f.store, h, peer(1), v6(9), .seeder, key: key(1))
        #expect(merged.recorded && merged.complete == 1 && merged.incomplete == 0)
        let view = try await announce(f.store, h, peer(2), v4(2))
        #expect(view.peers == [SwarmPeer(peerID: peer(1), v4: v4(9, port: 7000), v6: v6(9))])
        // The key a peer first announced with stays its key.
        let other = try await announce(f.store, h, peer(1), v4(10), key: key(2))
        #expect(other.recorded == false)
        let stop = try await announce(f.store, h, peer(1), v6(77), stop: true, key: key(1))
        #expect(stop.recorded && stop.complete == 0 && stop.incomplete == 1, "the key removes the whole peer from anywhere")
        #expect(try await f.store.totals().ipv6Endpoints == 0)
    }

    static func addressOwnsWithoutKey(_ f: StoreFixture) async throws {
        let h = hash(402)
        try await announce(f.store, h, peer(1), v4(1))
        let port = try await announce(f.store, h, peer(1), v4(1, port: 7777), .seeder)
        #expect(port.recorded && port.complete == 1, "the recorded address may change the port and the role")
        let v6 = try await announce(f.store, h, peer(1), v6(1), .seeder)
        #expect(v6.recorded == false, "without a key no family is merged")
        let moved = try await announce(f.store, h, peer(1), v4(2), .seeder)
        #expect(moved.recorded == false)
        let view = try await announce(f.store, h, peer(2), v4(3))
        #expect(view.peers == [SwarmPeer(peerID: peer(1), v4: v4(1, port: 7777), v6: nil)])
        let stop = try await announce(f.store, h, peer(1), v4(1, port: 1), stop: true)
        #expect(stop.recorded && stop.complete == 0 && stop.incomplete == 1)
    }

    static func stopDropsOneEndpoint(_ f: StoreFixture) async throws {
        let h = hash(403)
        try await announce(f.store, h, peer(1), v4(1), .seeder, key: key(1))
        try await announce(f.store, h, peer(1), v6(1), .seeder, key: key(1))
        // From the IPv4 address without the key: that endpoint goes, the peer stays on IPv6.
        let stop = try await announce(f.store, h, peer(1), v4(1), .seeder, stop: true)
        #expect(stop.recorded && stop.complete == 1)
        var t = try await f.store.totals()
        #expect(t.peers == 1 && t.ipv4Endpoints == 0 && t.ipv6Endpoints == 1)
        let view = try await announce(f.store, h, peer(2), v6(2))
        #expect(view.peers == [SwarmPeer(peerID: peer(1), v4: nil, v6: v6(1))])
        let last = try await announce(f.store, h, peer(1), v6(1), .seeder, stop: true)
        #expect(last.recorded && last.complete == 0)
        t = try await f.store.totals()
        #expect(t.peers == 1 && t.ipv6Endpoints == 1)
    }

    static func expiredPeerTakenOver(_ f: StoreFixture) async throws {
        let h = hash(404)
        try await announce(f.store, h, peer(1), v4(1), .seeder, completed: true, key: key(1))
        try await announce(f.store, h, peer(2), v4(2))
        f.clock.advance(by: f.ttl / 2 + 1)
        try await announce(f.store, h, peer(2), v4(2))
        f.clock.advance(by: f.ttl / 2 + 1)
        let taken = try await announce(f.store, h, peer(1), v4(5), key: key(5))
        #expect(taken.recorded && taken.complete == 0 && taken.incomplete == 2)
        #expect(try await f.store.totals().peers == 2, "the peer it replaced leaves the totals")
        let done = try await announce(f.store, h, peer(1), v4(5), .seeder, completed: true, key: key(5))
        #expect(done.downloaded == 2, "a new peer's completion counts")
        #expect(try await announce(f.store, h, peer(1), v4(1), key: key(1)).recorded == false)
    }

    static func peersPerSourceQuota(_ f: StoreFixture) async throws {
        let h = hash(405)
        let quota = SourceQuota(peersPerTorrent: 4)
        // Forty sources first, so the quota is checked in a swarm larger than it.
        for i in 0..<40 { try await announce(f.store, h, peer(i), v4(1000 + i), quota: quota) }
        for i in 40..<44 { try await announce(f.store, h, peer(i), v4(7, port: UInt16(7000 + i)), quota: quota) }
        #expect(await attempt(f.store, h, peer(44), v4(7, port: 7044), quota: quota) == .failure(.tooManyPeersFromSource(max: 4)))
        // IPv6 addresses of one /64 are one source.
        for i in 50..<54 { try await announce(f.store, h, peer(i), v6(i), quota: quota) }
        #expect(await attempt(f.store, h, peer(54), v6(54), quota: quota) == .failure(.tooManyPeersFromSource(max: 4)))
        #expect(await attempt(f.store, h, peer(55), v6(55 + 65536), quota: quota).map(\.recorded) == .success(true))
        // Its own peers keep announcing; a key cannot move one more into the full source.
        #expect(try await announce(f.store, h, peer(40), v4(7, port: 7040), quota: quota).recorded)
        try await announce(f.store, h, peer(60), v4(8), key: key(60), quota: quota)
        #expect(
            await attempt(f.store, h, peer(60), v4(7, port: 7060), key: key(60), quota: quota) == .failure(.tooManyPeersFromSource(max: 4)))
        // A stop makes room; an exempt announce (no quota) is not held to it.
        try await announce(f.store, h, peer(41), v4(7, port: 7041), stop: true)
        #expect(await attempt(f.store, h, peer(44), v4(7, port: 7044), quota: quota).map(\.recorded) == .success(true))
        #expect(await attempt(f.store, h, peer(45), v4(7, port: 7045)).map(\.recorded) == .success(true))
        // Expired endpoints give their place back.
        f.clock.advance(by: f.ttl + 1)
        try await f.store.expire()
        for i in 70..<74 { try await announce(f.store, h, peer(i), v4(7, port: UInt16(7000 + i)), quota: quota) }
        #expect(await attempt(f.store, h, peer(74), v4(7, port: 7074), quota: quota) == .failure(.tooManyPeersFromSource(max: 4)))
    }

    static func newTorrentPermission(_ f: StoreFixture) async throws {
        let no = SourceQuota(mayCreateTorrent: false)
        #expect(await attempt(f.store, hash(406), peer(1), v4(1), quota: no) == .failure(.tooManyNewTorrents))
        #expect(try await f.store.scrape([hash(406)]).isEmpty)
        let first = try await announce(f.store, hash(406), peer(1), v4(1))
        #expect(first.createdTorrent)
        let second = try await announce(f.store, hash(406), peer(2), v4(2), quota: no)
        #expect(second.createdTorrent == false && second.recorded && second.incomplete == 2)
    }
}

extension StoreConformance {
    /// The info_hash the suite uses for `n`, for backend-specific tests.
    public static func hashForTests(_ n: Int) -> InfoHash { hash(n) }
    /// The peer_id the suite uses for `n`.
    public static func peerForTests(_ n: Int) -> PeerID { peer(n) }
}

extension PeerAnnounce {
    /// Peer `peer` of torrent `torrent` with the conformance suite's ids, from IPv4 address
    /// 10.(peer >> 16).(peer >> 8).(peer), as the store tests announce.
    public static func test(torrent: Int = 1, peer: Int, port: UInt16 = 6881, role: PeerRole = .leecher, numwant: Int = 50) -> PeerAnnounce
    {
        PeerAnnounce(
            infoHash: StoreConformance.hash(torrent), peerID: StoreConformance.peer(peer), endpoint: StoreConformance.v4(peer, port: port),
            role: role, numwant: numwant)
    }
}

extension StoreConformance {
    // MARK: private mode

    static func usersSeparatePeers(_ f: StoreFixture) async throws {
        let h = hash(500)
        try await announce(f.store, h, peer(1), v4(1), .seeder, user: 7)
        let other = try await announce(f.store, h, peer(1), v4(2), user: 8)
        // The same peer_id under another user is another peer: counted, and listed to it.
        #expect(other.complete == 1 && other.incomplete == 1)
        #expect(other.past == nil)
        #expect(other.peers.map(\.v4) == [v4(1)])
        // Each user's stop removes its own peer only.
        let stop = try await announce(f.store, h, peer(1), v4(2), stop: true, user: 8)
        #expect(stop.recorded && stop.complete == 1 && stop.incomplete == 0)
        let again = try await announce(f.store, h, peer(1), v4(1), .seeder, user: 7)
        #expect(again.past != nil)
        #expect(again.complete == 1)
    }

    static func ownershipWithinUser(_ f: StoreFixture) async throws {
        let h = hash(501)
        try await announce(f.store, h, peer(1), v4(1), key: key(1), user: 7)
        // The same user from another address without the key owns nothing.
        let stranger = try await announce(f.store, h, peer(1), v4(2), .seeder, user: 7)
        #expect(!stranger.recorded)
        #expect(stranger.complete == 0 && stranger.incomplete == 1)
        let stop = try await announce(f.store, h, peer(1), v4(2), stop: true, user: 7)
        #expect(!stop.recorded && stop.incomplete == 1)
        // With its key it moves.
        let moved = try await announce(f.store, h, peer(1), v4(2), .seeder, key: key(1), user: 7)
        #expect(moved.recorded && moved.complete == 1)
    }

    static func peersPerUserQuota(_ f: StoreFixture) async throws {
        let h = hash(502)
        let quota = SourceQuota(peersPerUser: 3)
        // Other users' peers first, so the quota is checked in a swarm larger than it.
        for i in 0..<10 { try await announce(f.store, h, peer(i), v4(i), quota: quota, user: UInt32(100 + i)) }
        for i in 10..<13 { try await announce(f.store, h, peer(i), v4(i), quota: quota, user: 7) }
        #expect(await attempt(f.store, h, peer(13), v4(13), quota: quota, user: 7) == .failure(.tooManyPeersForUser(max: 3)))
        // Nothing was recorded for the refused peer.
        #expect(try await f.store.scrape([h])[h]?.incomplete == 13)
        // Its peers keep announcing; another user is not held to this one's count; a stop makes room.
        #expect(await attempt(f.store, h, peer(10), v4(10), .seeder, quota: quota, user: 7).map(\.recorded) == .success(true))
        #expect(await attempt(f.store, h, peer(13), v4(13), quota: quota, user: 8).map(\.recorded) == .success(true))
        try await announce(f.store, h, peer(11), v4(11), stop: true, user: 7)
        #expect(await attempt(f.store, h, peer(14), v4(14), quota: quota, user: 7).map(\.recorded) == .success(true))
        // Expired peers give their place back.
        f.clock.advance(by: f.ttl + 1)
        try await f.store.expire()
        for i in 20..<23 { try await announce(f.store, h, peer(i), v4(i), quota: quota, user: 7) }
        #expect(await attempt(f.store, h, peer(23), v4(23), quota: quota, user: 7) == .failure(.tooManyPeersForUser(max: 3)))
    }

    static func newPeerPermission(_ f: StoreFixture) async throws {
        let h = hash(503)
        let no = SourceQuota(mayAddPeer: false)
        // Neither a new torrent nor a new peer in a known one; a known peer announces as usual.
        #expect(await attempt(f.store, h, peer(1), v4(1), quota: no, user: 7) == .failure(.noNewPeer))
        #expect(try await f.store.scrape([h]).isEmpty)
        try await announce(f.store, h, peer(1), v4(1), user: 7)
        #expect(await attempt(f.store, h, peer(2), v4(2), quota: no, user: 7) == .failure(.noNewPeer))
        #expect(await attempt(f.store, h, peer(1), v4(1), .seeder, quota: no, user: 7).map(\.recorded) == .success(true))
        #expect(try await f.store.scrape([h])[h] == ScrapeEntry(complete: 1, incomplete: 0, downloaded: 0, downloaders: 0))
    }

    static func pastOfThePeer(_ f: StoreFixture) async throws {
        let h = hash(504)
        let first = try await announce(f.store, h, peer(1), v4(1), key: key(1), user: 7)
        #expect(first.past == nil)
        f.clock.advance(by: 30)
        // The other family, 30 s later: its first endpoint there.
        let paired = try await announce(f.store, h, peer(1), v6(1), key: key(1), user: 7)
        #expect(paired.past == PeerPast(sinceLast: 30, sinceLastSameFamily: nil, wasSeeder: false, downloadCounted: false))
        f.clock.advance(by: 20)
        let done = try await announce(f.store, h, peer(1), v4(1), .seeder, completed: true, key: key(1), user: 7)
        #expect(done.past == PeerPast(sinceLast: 20, sinceLastSameFamily: 50, wasSeeder: false, downloadCounted: false))
        f.clock.advance(by: 5)
        let after = try await announce(f.store, h, peer(1), v6(1), .seeder, key: key(1), user: 7)
        #expect(after.past == PeerPast(sinceLast: 5, sinceLastSameFamily: 25, wasSeeder: true, downloadCounted: true))
        // A stop tells what it stopped; a stop of a peer not held tells nothing.
        let stop = try await announce(f.store, h, peer(1), v4(1), stop: true, key: key(1), user: 7)
        #expect(stop.past?.wasSeeder == true)
        let unknown = try await announce(f.store, h, peer(2), v4(2), stop: true, user: 7)
        #expect(unknown.past == nil)
        // A peer gone past its TTL is new again.
        try await announce(f.store, h, peer(3), v4(3), user: 7)
        f.clock.advance(by: f.ttl + 1)
        #expect(try await announce(f.store, h, peer(3), v4(3), user: 7).past == nil)
    }

    static func seedersLeadTheSample(_ f: StoreFixture) async throws {
        let h = hash(505)
        for i in 0..<6 { try await announce(f.store, h, peer(i), v4(i), .seeder) }
        for i in 6..<15 { try await announce(f.store, h, peer(i), v4(i)) }
        for _ in 0..<20 {
            let r = try await announce(f.store, h, peer(100), v4(100), numwant: 8)
            let seeders = Set((0..<6).map { v4($0) })
            #expect(r.peers.count == 8)
            #expect(r.seedersSampled == r.peers.prefix { seeders.contains($0.v4!) }.count)
            #expect(r.peers.dropFirst(r.seedersSampled).allSatisfy { !seeders.contains($0.v4!) })
        }
        // All of them when numwant covers the swarm.
        let all = try await announce(f.store, h, peer(100), v4(100), numwant: 50)
        #expect(all.seedersSampled == 6 && all.peers.count == 15)
        // A seeder is given leechers only.
        #expect(try await announce(f.store, h, peer(0), v4(0), .seeder, numwant: 50).seedersSampled == 0)
    }
}
