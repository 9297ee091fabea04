import MemoryStore
import Testing
import TrackerCore
import TrackerTestSupport

@testable import RedisStore

/// The Redis store against the memory store, fed the same random announces (ownership, both
/// families, roles, stops, completions) on the same clock: every announce is recorded or not
/// alike, and once both have expired what is due, every torrent's counts and the totals agree.
/// The Redis store sweeps in bounded steps spread over announces and reaper calls, the memory
/// store a whole swarm at a time; this is what says the steps add up to the same thing. (It
/// found a takeover that counted a peer twice in the memory store's totals, an off-by-one that
/// let the memory store skip a swarm whose oldest endpoint expired that very second, and a
/// Redis index score that was no lower bound after a pass.)
@Suite struct StoreDifferentialTests {
    @Test(arguments: [1, 2, 3])
    func theRedisStoreAgreesWithTheMemoryStore(seed: UInt64) async throws {
        let server = try RedisServer()
        let ttl = 300
        let clock = ManualTrackerClock()
        let redis = RedisPeerStore(endpoint: server.endpoint, connections: 1, clock: clock, peerTTL: ttl)
        let memory = MemoryPeerStore(clock: clock, peerTTL: ttl)
        var rng = SplitMix64(seed: seed)
        let torrents = [StoreConformance.hashForTests(900), StoreConformance.hashForTests(901), StoreConformance.hashForTests(902)]
        for step in 0..<4000 {
            let r = rng.next()
            // Torrent 0 is the big one (about 300 peers), so its sweeps take several steps.
            let t = r & 7 < 5 ? 0 : Int(r >> 3 & 1) + 1
            let n = Int(r >> 8 % (t == 0 ? 300 : 40))
            let address: PeerAddress =
                r >> 20 & 3 == 0
                ? .v6(IPv6Address(high: 0x2001_0db8_0000_0000 | (r >> 22) % 6, low: UInt64(n)))
                : .v4(IPv4Address(10, 0, UInt8(n % 7), UInt8((r >> 22) % 20)))
            let key: PeerKey = r >> 30 & 3 == 0 ? .none : PeerKey(value: UInt32(n + 1 + (r >> 32 & 1 == 0 ? 0 : 1_000_000)))
            let role: PeerRole = [.leecher, .leecher, .seeder, .partialSeed][Int(r >> 34 & 3)]
            let a = PeerAnnounce(
                infoHash: torrents[t], peerID: StoreConformance.peerForTests(n),
                endpoint: Endpoint(address: address, port: UInt16(6881 + n)),
                role: role, countsDownload: r >> 37 & 15 == 0, remove: r >> 41 & 15 == 0, numwant: Int(r >> 45 & 63), key: key)
            let fromRedis = try await redis.announce(a)
            let fromMemory = try await memory.announce(a)
            #expect(fromRedis.recorded == fromMemory.recorded, "step \(step): recorded")
            #expect(fromRedis.peers.count <= a.numwant && !fromRedis.peers.contains { $0.peerID == a.peerID })
            if step % 25 == 0 { clock.advance(by: UInt32(rng.next() % 60)) }
            if step % 200 == 199 {
                try await redis.expire()
                try await memory.expire()
                try await compare(redis, memory, torrents, "step \(step)")
            }
        }
        clock.advance(by: UInt32(ttl / 2))
        try await redis.expire()
        try await memory.expire()
        try await compare(redis, memory, torrents, "the end")
    }

    func compare(_ redis: RedisPeerStore, _ memory: MemoryPeerStore, _ torrents: [InfoHash], _ when: String) async throws {
        let (r, m) = (try await redis.totals(), try await memory.totals())
        #expect(r == m, "\(when): totals")
        let (rs, ms) = (try await redis.scrape(torrents), try await memory.scrape(torrents))
        #expect(rs == ms, "\(when): scrape")
    }
}
