import Foundation
import Testing
import TrackerCore
import TrackerTestSupport

@testable import RedisStore

/// The Redis reaper against odd content and huge stale torrents, on a real redis-server.
@Suite struct RedisReaperTests {
    func hash(_ n: UInt8) -> InfoHash { InfoHash([n, 0xAB] + [UInt8](repeating: n, count: 18))! }

    func announce(_ s: RedisPeerStore, _ h: InfoHash, peer: Int, role: PeerRole = .leecher) async throws {
        _ = try await s.announce(
            PeerAnnounce(
                infoHash: h, peerID: StoreConformance.peerForTests(peer),
                endpoint: Endpoint(address: .v4(IPv4Address(10, 0, UInt8(peer >> 8 & 0xFF), UInt8(peer & 0xFF))), port: 6881), role: role,
                numwant: 0))
    }

    @Test func malformedIndexEntriesForeignRecordsAndMissingStringsAreRepairedAndExpiryGoesOn() async throws {
        let server = try RedisServer()
        let clock = ManualTrackerClock()
        let store = RedisPeerStore(endpoint: server.endpoint, clock: clock, peerTTL: 1860)
        let (healthy, foreign, noRecords) = (hash(1), hash(2), hash(3))
        for h in [healthy, foreign, noRecords] {
            for p in 1...3 { try await announce(store, h, peer: p) }
        }
        let c = try BlockingRedisConnection(server.endpoint, timeout: .seconds(2))
        // Entries no Squall wrote: too short, and 40 characters that are not hex.
        _ = try c.command("ZADD", "squall:torrents", "0", "not-a-torrent")
        _ = try c.command("ZADD", "squall:torrents", "0", String(repeating: "zz", count: 20))
        // A slot whose record is not one Squall wrote, and a string the counts say holds three.
        _ = try c.command([
            Array("SETRANGE".utf8), Array("squall:{\(foreign.raw.hex)}:l".utf8), Array("0".utf8), [UInt8](repeating: 0, count: 57),
        ])
        _ = try c.command("DEL", "squall:{\(noRecords.raw.hex)}:l")
        clock.advance(by: 1900)
        // Before: the malformed entries were found due again forever (the reaper never ended).
        let removed = try await within(.seconds(30)) { try await store.expire() }
        #expect(removed == 5, "the healthy torrent's peers and the two real ones of the torrent with a foreign record")
        #expect(try c.command("ZCARD", "squall:torrents") == .integer(0), "every entry swept or removed")
        for h in [healthy, foreign, noRecords] {
            for key in ["ids", "s", "l", "m"] {
                #expect(try c.command("EXISTS", "squall:{\(h.raw.hex)}:\(key)") == .integer(0), "\(h.raw.hex)'s \(key) is gone")
            }
        }
        // Expiry goes on afterwards for new torrents.
        try await announce(store, hash(4), peer: 9)
        clock.advance(by: 1900)
        #expect(try await within(.seconds(30)) { try await store.expire() } == 1)
    }

    /// A records string holds about what its records need: grown to fit the allocator's size
    /// classes, a little ahead of the count, and trimmed after most peers have gone.
    @Test func recordStringsFitTheirRecords() async throws {
        let server = try RedisServer()
        let clock = ManualTrackerClock()
        let store = RedisPeerStore(endpoint: server.endpoint, connections: 2, clock: clock, peerTTL: 1860)
        let h = hash(7)
        for p in 1...3000 { try await announce(store, h, peer: p) }
        let c = try BlockingRedisConnection(server.endpoint, timeout: .seconds(2))
        let key = "squall:{\(h.raw.hex)}:l"
        func strlen() throws -> Int { try c.command("STRLEN", key).integer ?? 0 }
        func usage() throws -> Int { try c.command("MEMORY", "USAGE", key).integer ?? 0 }
        let needed = 3000 * RedisRecord.size(users: false)
        let (length, allocated) = (try strlen(), try usage())
        #expect(length >= needed && length <= needed * 5 / 4, "\(length) bytes for \(needed)")
        #expect(allocated <= needed * 5 / 4 + 64, "its allocation: \(allocated) bytes for \(needed)")
        // 2,900 leave by expiry; the pass gives the room back.
        clock.advance(by: 1000)
        for p in 1...100 { try await announce(store, h, peer: p) }
        clock.advance(by: 1000)
        #expect(try await store.expire() == 2900)
        let left = try strlen()
        #expect(left <= 100 * RedisRecord.size(users: false) * 2 + 1024, "\(left) bytes left for 100 records")
        let r = try await store.announce(
            PeerAnnounce(
                infoHash: h, peerID: StoreConformance.peerForTests(5000),
                endpoint: Endpoint(address: .v4(IPv4Address(10, 9, 9, 9)), port: 1),
                role: .leecher, numwant: 200))
        #expect(r.incomplete == 101 && r.peers.count == 100)
    }

    /// The tracker-wide caps, counted in the totals the store keeps, with the memory store's
    /// failure reasons; peers already in keep announcing.
    @Test func torrentAndPeerCapsRefuseNewcomersWithTheMemoryStoresReasons() async throws {
        let server = try RedisServer()
        let clock = ManualTrackerClock()
        let store = RedisPeerStore(
            options: RedisOptions(endpoint: server.endpoint, prefix: "squall:", connections: 1, timeout: .seconds(2)), clock: clock,
            peerTTL: 1860, maxTorrents: 2, maxPeers: 3)
        try await announce(store, hash(1), peer: 1)
        try await announce(store, hash(1), peer: 2)
        try await announce(store, hash(2), peer: 3)
        await #expect(throws: StoreError.full("tracker is full (at most 3 peers)")) { try await announce(store, hash(1), peer: 4) }
        try await announce(store, hash(2), peer: 3)
        _ = try await store.announce(
            PeerAnnounce(
                infoHash: hash(1), peerID: StoreConformance.peerForTests(2),
                endpoint: Endpoint(address: .v4(IPv4Address(10, 0, 0, 2)), port: 6881), role: .leecher, remove: true, numwant: 0))
        await #expect(throws: StoreError.full("tracker is full (at most 2 torrents)")) { try await announce(store, hash(3), peer: 5) }
        try await announce(store, hash(1), peer: 5)
        #expect(try await store.totals() == SwarmTotals(torrents: 2, peers: 3, seeders: 0, leechers: 3, ipv4Endpoints: 3))
        // Expiry gives the places back.
        clock.advance(by: 1900)
        _ = try await store.expire()
        try await announce(store, hash(3), peer: 6)
    }

    /// Counts no swarm can have, edited into Redis, give an error reply, never a trap: the next
    /// sample's slot offsets are computed from them.
    @Test func countsOutOfRangeAreAnErrorNotATrap() async throws {
        let server = try RedisServer()
        let store = RedisPeerStore(endpoint: server.endpoint, clock: ManualTrackerClock(), peerTTL: 1860)
        let h = hash(6)
        for p in 1...3 { try await announce(store, h, peer: p) }
        let c = try BlockingRedisConnection(server.endpoint, timeout: .seconds(2))
        for (field, value) in [("l", "9223372036854775807"), ("l", "-5"), ("d", "-1")] {
            _ = try c.command("HSET", "squall:{\(h.raw.hex)}:m", field, value)
            await #expect(throws: StoreError.self, "\(field) = \(value)") { try await announce(store, h, peer: 4) }
            // The same loop again: the counts must not have been remembered for the next sample.
            await #expect(throws: StoreError.self) { try await announce(store, h, peer: 5) }
            _ = try c.command("HSET", "squall:{\(h.raw.hex)}:m", "l", "3", "d", "0")
        }
        let entry = try await store.scrape([h])[h]
        #expect(entry == nil || (entry!.complete >= 0 && entry!.incomplete >= 0 && entry!.downloaders >= 0))
    }

    /// Graceful shutdown cancels the expiry service's task: a long pass stops at the next
    /// torrent instead of running to its end (before, it ran in a task of its own that nothing
    /// cancelled), and what it left is swept by the next pass.
    @Test func aCancelledPassStopsAtTheNextTorrent() async throws {
        let server = try RedisServer()
        let clock = ManualTrackerClock()
        let store = RedisPeerStore(endpoint: server.endpoint, connections: 4, clock: clock, peerTTL: 1860)
        let torrents = 5000
        try await withThrowingTaskGroup(of: Void.self) { group in
            for part in 0..<8 {
                group.addTask {
                    for n in stride(from: part, to: torrents, by: 8) {
                        let h = InfoHash([0xC0, UInt8(n >> 8), UInt8(n & 0xFF)] + [UInt8](repeating: 3, count: 17))!
                        try await announce(store, h, peer: 1)
                    }
                }
            }
            try await group.waitForAll()
        }
        let c = try BlockingRedisConnection(server.endpoint, timeout: .seconds(2))
        #expect(try c.command("ZCARD", "squall:torrents") == .integer(torrents))
        clock.advance(by: 1900)
        let pass = Task { try await store.expire() }
        // Cancelled as soon as the pass has swept its first torrents.
        while case .integer(let left) = try c.command("ZCARD", "squall:torrents"), left == torrents {
            try await Task.sleep(for: .milliseconds(2))
        }
        let cancelledAt = ContinuousClock.now
        pass.cancel()
        let outcome = await pass.result
        let took = ContinuousClock.now - cancelledAt
        guard case .failure(let error) = outcome else {
            Issue.record("the pass ran to its end: \(outcome)")
            return
        }
        #expect(error as? StoreError == .cancelled, "\(error)")
        #expect(took < .seconds(1), "stopped \(took) after the cancel")
        guard case .integer(let left) = try c.command("ZCARD", "squall:torrents") else {
            Issue.record("no ZCARD")
            return
        }
        #expect(left > torrents / 2, "\(torrents - left) of \(torrents) swept before it stopped")
        #expect(try await within(.seconds(60)) { try await store.expire() } == left)
        #expect(try await store.totals() == SwarmTotals())
    }

    /// A stale torrent of 100,000 peers is swept in calls of bounded Redis time: before, one
    /// script call swept it whole and blocked Redis for about a second.
    @Test func aHugeStaleTorrentIsSweptInShortCalls() async throws {
        let server = try RedisServer()
        let clock = ManualTrackerClock()
        let store = RedisPeerStore(endpoint: server.endpoint, connections: 4, clock: clock, peerTTL: 1860, maxPeersPerTorrent: 200_000)
        let h = hash(5)
        let peers = 100_000
        try await withThrowingTaskGroup(of: Void.self) { group in
            for part in 0..<8 {
                group.addTask {
                    for p in stride(from: part, to: peers, by: 8) { try await announce(store, h, peer: p + 1) }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await store.totals().peers == peers)
        let c = try BlockingRedisConnection(server.endpoint, timeout: .seconds(5))
        _ = try c.command("CONFIG", "SET", "slowlog-log-slower-than", "5000")
        _ = try c.command("CONFIG", "SET", "slowlog-max-len", "100000")
        _ = try c.command("SLOWLOG", "RESET")
        clock.advance(by: 1900)
        #expect(try await within(.seconds(120)) { try await store.expire() } == peers)
        let slow = try c.command("SLOWLOG", "GET", "100000")
        // Each entry: id, time, microseconds, command. A sweep call does about a millisecond of
        // work (`sweepChunk` slots); on this shared two-core machine any command, even an O(1)
        // GETRANGE, now and then shows 5 to 8 ms of scheduling delay, so a few such entries are
        // tolerated. Before, the one call that swept the torrent took about a second: the
        // slowest call's bound (50 ms) is what catches that, here and in `make stress`. The share
        // of calls past 5 ms is a tail that scheduling sets when the whole suite shares the two
        // cores (2 to 9 % seen in `make test`), so it is held to 1 % only in `make stress`
        // (SQUALL_STRESS=1, nothing else running) and to 10x that beside the suite, as the
        // statistics-under-load scenario is.
        let durations = (slow.array ?? []).compactMap { $0.array?[2].integer }.sorted()
        let calls = peers / RedisPeerStore.sweepChunk
        let strict = ProcessInfo.processInfo.environment["SQUALL_STRESS"] == "1"
        let share = strict ? 100 : 10
        #expect(durations.count * share <= calls, "\(durations.count) of about \(calls) calls took 5 ms or more")
        #expect((durations.last ?? 0) < 50_000, "the slowest call took \(durations.last ?? 0) us")
        print(
            "stress: redis sweep calls: \(durations.count) of about \(calls) past 5 ms (at most 1 in \(share)), slowest \(durations.last ?? 0) us (< 50000)"
        )
        #expect(try await store.totals().peers == 0)
    }
}
