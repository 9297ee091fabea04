import Foundation
import RedisStore
import Testing
import TrackerCore
import TrackerTestSupport

/// The store conformance suite, against a real redis-server: every case in the `users` layout
/// (a private tracker's 61-byte records), and in the open layout (57 bytes) every case that
/// announces without users.
@Suite struct RedisStoreTests {
    /// Each case gets its own server, so cases cannot see each other's keys.
    final class Fixture: Sendable {
        let server: RedisServer
        let fixture: StoreFixture
        init(users: Bool) throws {
            server = try RedisServer()
            let clock = ManualTrackerClock()
            var options = RedisOptions(endpoint: server.endpoint, connections: 2, timeout: .seconds(2))
            options.users = users
            try RedisPeerStore.check(options)
            let store = RedisPeerStore(options: options, clock: clock, peerTTL: 1860)
            fixture = StoreFixture(clock: clock, store: store, ttl: 1860)
        }
    }

    static let layouts = StoreConformance.cases.flatMap { c in (c.users ? [true] : [false, true]).map { (c, $0) } }

    @Test(arguments: layouts)
    func conformance(_ c: StoreConformance.Case, users: Bool) async throws {
        let f = try Fixture(users: users)
        try await c.run { f.fixture }
        withExtendedLifetime(f) {}
    }
}

@Suite struct RedisStoreBehaviourTests {
    static func announce(_ s: RedisPeerStore, peer: Int, port: UInt16, role: PeerRole = .leecher) async throws -> SwarmReply {
        try await s.announce(.test(peer: peer, port: port, role: role))
    }

    @Test func twoSquallInstancesOnOneRedisSeeEachOthersPeers() async throws {
        let server = try RedisServer()
        let clock = ManualTrackerClock()
        let a = RedisPeerStore(endpoint: server.endpoint, clock: clock, peerTTL: 1860)
        let b = RedisPeerStore(endpoint: .unix(path: server.socketPath), clock: clock, peerTTL: 1860)
        _ = try await Self.announce(a, peer: 1, port: 1001, role: .seeder)
        let fromB = try await Self.announce(b, peer: 2, port: 1002)
        #expect(fromB.complete == 1 && fromB.incomplete == 1)
        #expect(fromB.peers.map(\.peerID) == [StoreConformance.peerForTests(1)])
        let fromA = try await Self.announce(a, peer: 1, port: 1001, role: .seeder)
        #expect(fromA.peers.map(\.peerID) == [StoreConformance.peerForTests(2)])
        // A different prefix is a different tracker on the same Redis.
        let other = RedisPeerStore(endpoint: server.endpoint, prefix: "other:", clock: clock, peerTTL: 1860)
        #expect(try await Self.announce(other, peer: 3, port: 1003).incomplete == 1)
        let otherTotals = try await other.totals()
        let aTotals = try await a.totals()
        #expect(otherTotals.peers == 1 && aTotals.peers == 2)
    }

    /// An open tracker's records (57 bytes) and a private one's (61, with the user) cannot share
    /// a prefix: each mode writes its layout the first time and refuses the other's, naming it;
    /// a store opened without users refuses a user's announce rather than drop the user.
    @Test func theOpenAndThePrivateLayoutsRefuseEachOther() async throws {
        let server = try RedisServer()
        var open = RedisOptions(endpoint: server.endpoint, prefix: "o:")
        var users = open
        users.users = true
        try RedisPeerStore.check(open)
        try RedisPeerStore.check(open)
        #expect(throws: RedisError.self) { try RedisPeerStore.check(users) }
        do {
            try RedisPeerStore.check(users)
        } catch {
            #expect("\(error)".contains("in layout 5 (an open tracker's peers), not 4"), "\(error)")
        }
        users.prefix = "u:"
        try RedisPeerStore.check(users)
        open.prefix = "u:"
        do {
            try RedisPeerStore.check(open)
            Issue.record("an open store accepted a private tracker's keys")
        } catch {
            #expect("\(error)".contains("in layout 4 (a private tracker's peers), not 5"), "\(error)")
        }
        let store = RedisPeerStore(options: RedisOptions(endpoint: server.endpoint, prefix: "o:"), peerTTL: 1860)
        var a = PeerAnnounce.test(peer: 1)
        a.user = 7
        await #expect(throws: StoreError.self) { try await store.announce(a) }
        a.user = 0
        #expect(try await store.announce(a).incomplete == 1)
        // The record is 57 bytes in the open layout.
        let c = try BlockingRedisConnection(server.endpoint, timeout: .seconds(2))
        let held = try c.command("GET", "o:{\(a.infoHash.raw.hex)}:l").bytes ?? []
        #expect(held.count >= 57 && held.count % 57 == 0 && held.prefix(20).elementsEqual(a.peerID.raw.bytes))
    }

    @Test func peersSurviveARestartOfSquall() async throws {
        let server = try RedisServer()
        let clock = ManualTrackerClock()
        do {
            let first = RedisPeerStore(endpoint: server.endpoint, clock: clock, peerTTL: 1860)
            for p in 1...3 { _ = try await Self.announce(first, peer: p, port: UInt16(2000 + p)) }
        }
        let second = RedisPeerStore(endpoint: server.endpoint, clock: clock, peerTTL: 1860)
        let r = try await Self.announce(second, peer: 4, port: 2004)
        #expect(r.incomplete == 4 && r.peers.count == 3)
        let totals = try await second.totals()
        #expect(totals == SwarmTotals(torrents: 1, peers: 4, seeders: 0, leechers: 4, ipv4Endpoints: 4))
    }

    /// Regression: the store once timed peers from process start, so two Squalls (or one after
    /// a restart) disagreed about every peer's age. Its default clock is Unix time.
    @Test func theDefaultClockIsUnixTimeSoProcessesAgree() async throws {
        let server = try RedisServer()
        let store = RedisPeerStore(endpoint: server.endpoint, peerTTL: 1860)
        let before = Int(time(nil))
        _ = try await Self.announce(store, peer: 1, port: 4001)
        let after = Int(time(nil))
        let c = try BlockingRedisConnection(server.endpoint, timeout: .seconds(2))
        let hex = StoreConformance.hashForTests(1).raw.hex
        let stamp = try c.command("HGET", "squall:{\(hex)}:m", "a").bytes.flatMap { Int(String(decoding: $0, as: UTF8.self)) }
        #expect(
            stamp.map { (before...after).contains($0) } == true,
            "last announce \(String(describing: stamp)), Unix time \(before)...\(after)")
    }

    @Test func redisDownFailsQuicklyThenRecoversWithScriptsReloaded() async throws {
        let server = try RedisServer()
        let store = RedisPeerStore(
            endpoint: server.endpoint, connections: 1, timeout: .milliseconds(500), clock: ManualTrackerClock(), peerTTL: 1860)
        _ = try await Self.announce(store, peer: 1, port: 3001)
        server.stop()
        let (result, took) = try #require(await RedisPipelineTests.timedAnnounce(store, peer: 2))
        #expect(result.failure != nil)
        #expect(took < .seconds(3), "a failure reason within the timeout, not a hang")
        do {
            _ = try await Self.announce(store, peer: 2, port: 3002)
            Issue.record("announced with Redis down")
        } catch {
            #expect((error as? StoreError)?.failure.reason == "storage unavailable, retry later")
        }
        // Redis comes back empty: the store reconnects by itself once its backoff (at most 2 s)
        // has passed, and loads its scripts again. Until then announces keep failing fast.
        try server.restart()
        let back = ContinuousClock.now
        var reply: SwarmReply?
        while reply == nil, ContinuousClock.now - back < .seconds(10) {
            do {
                reply = try await Self.announce(store, peer: 2, port: 3002)
            } catch {
                #expect((error as? StoreError)?.failure.reason == "storage unavailable, retry later")
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        #expect(reply?.incomplete == 1, "reconnected by itself")
    }
}

/// The statistics table's query over rows read from Redis (the same query the memory store's
/// rows go through).
@Suite struct RedisStatisticsTests {
    @Test func theTorrentsTableIsPagedSortedAndSearchedOverRedisRows() async throws {
        let server = try RedisServer()
        let store = RedisPeerStore(endpoint: server.endpoint, clock: ManualTrackerClock(), peerTTL: 1860)
        // Torrent n has n % 4 + 1 peers, the first a seeder when n is even: 1200 torrents, more
        // than two of the rows script's chunks of 500.
        for n in 0..<1200 {
            let hash = StoreConformance.hashForTests(1000 + n)
            for i in 0...(n % 4) {
                _ = try await store.announce(
                    PeerAnnounce(
                        infoHash: hash, peerID: StoreConformance.peerForTests(i),
                        endpoint: Endpoint(address: .v4(IPv4Address(10, 0, 0, UInt8(i + 1))), port: 6881),
                        role: i == 0 && n % 2 == 0 ? .seeder : .leecher, numwant: 0))
            }
        }
        let rows = try await store.torrentRows()
        #expect(rows.count == 1200)
        // Each torrent n has n % 4 + 1 peers, the first of them a seeder when n is even.
        let hashes = Set(rows.map(\.infoHash))
        #expect(hashes.count == 1200)
        let full = rows.filter { $0.leechers == 4 }.count
        #expect(full == 300)
        let seeders = rows.reduce(0) { $0 + $1.seeders }
        let peers = rows.reduce(0) { $0 + $1.seeders + $1.leechers }
        #expect(seeders == 600 && peers == 3000)
        let target = rows.first { $0.infoHash == StoreConformance.hashForTests(1007) }
        #expect(target?.leechers == 4 && target?.seeders == 0)
        #expect(target?.ipv4 == 4 && target?.ipv6 == 0)
    }
}
