import Testing
import TrackerCore
import TrackerTestSupport

@testable import MemoryStore

/// The swarm's IPv6 pool gives memory back once most of it is free; its per-source counts stay
/// exact.
@Suite struct SwarmTests {
    func v6(_ n: Int) -> IPv6Address { IPv6Address(high: 0x2001_0db8_0000_0000 | UInt64(n), low: UInt64(n) * 7) }

    func announce(_ n: Int, remove: Bool = false) -> PeerAnnounce {
        PeerAnnounce(
            infoHash: StoreConformance.hashForTests(1), peerID: StoreConformance.peerForTests(n),
            endpoint: Endpoint(address: .v6(v6(n)), port: UInt16(1000 + n)), role: .leecher, remove: remove, numwant: 0)
    }

    @Test func theIPv6PoolShrinksWhenMostOfItIsFreeAndEveryPeerKeepsItsAddress() {
        var swarm = Swarm()
        let seed: UInt64 = 42
        for n in 0..<1000 { _ = swarm.upsert(announce(n), now: 10, cutoff: 0, maxPeers: 10_000, seed: seed) }
        #expect(swarm.v6.count == 1000)
        // 900 leave (stopped): the pool is compacted on the way down.
        for n in 0..<900 {
            guard let p = swarm.position(of: StoreConformance.peerForTests(n).raw, user: 0, seed: seed) else {
                Issue.record("peer \(n) missing")
                return
            }
            _ = swarm.remove(at: p, seed: seed)
        }
        #expect(swarm.count == 100)
        #expect(swarm.v6.count <= 400, "the pool shrank (it held \(swarm.v6.count) slots for 100 endpoints)")
        for n in 900..<1000 {
            let p = swarm.position(of: StoreConformance.peerForTests(n).raw, user: 0, seed: seed)!
            let slot = swarm.v6[Int(swarm.peers[p].v6)]
            #expect(slot.high == v6(n).high && slot.low == v6(n).low && slot.port == UInt16(1000 + n), "peer \(n) keeps its endpoint")
        }
        // New peers after compaction get slots of their own.
        for n in 2000..<2100 { _ = swarm.upsert(announce(n), now: 11, cutoff: 0, maxPeers: 10_000, seed: seed) }
        var seen = Set<Int32>()
        for p in swarm.peers.indices { #expect(seen.insert(swarm.peers[p].v6).inserted, "no two peers share a slot") }
        // Expiry of most IPv6 endpoints shrinks it too.
        _ = swarm.sweep(cutoff: 10, now: 2000, seed: seed)
        #expect(swarm.count == 100 && swarm.v6.count <= 400)
    }

    /// Announces, moves, merges, stops and expiry in random order: the swarm's per-source and
    /// per-user counts always equal a recount of its endpoints and peers, and no source or user
    /// passes its quota.
    @Test func sourceCountsMatchARecountThroughRandomChurn() {
        var swarm = Swarm()
        let seed: UInt64 = 7
        var rng = SplitMix64(seed: 99)
        let limit = 5
        let userLimit = 6
        var now: UInt32 = 100
        func endpoint(_ r: UInt64) -> Endpoint {
            // Few sources, so that quotas bite: 12 IPv4 addresses, 6 IPv6 /64s.
            r & 1 == 0
                ? Endpoint(address: .v4(IPv4Address(10, 0, 0, UInt8(r >> 8 % 12))), port: UInt16(r >> 16 & 0xFFFF | 1))
                : Endpoint(
                    address: .v6(IPv6Address(high: 0x2001_0db8_0000_0000 | (r >> 8) % 6, low: r >> 20)), port: UInt16(r >> 16 & 0xFFFF | 1))
        }
        for step in 0..<20_000 {
            let r = rng.next()
            let n = Int(r >> 40) % 120
            var a = PeerAnnounce(
                infoHash: StoreConformance.hashForTests(1), peerID: StoreConformance.peerForTests(n), endpoint: endpoint(r),
                role: r >> 30 & 3 == 0 ? .seeder : .leecher, numwant: 0,
                key: r >> 33 & 3 == 0 ? .none : PeerKey(value: UInt32(n + 1)),
                quota: SourceQuota(peersPerTorrent: limit, peersPerUser: userLimit), user: UInt32(r >> 50 & 15))
            if r >> 36 & 7 == 0 {
                a.remove = true
                _ = swarm.stop(a, now: now, cutoff: now - 50, seed: seed)
            } else {
                _ = swarm.upsert(a, now: now, cutoff: now - 50, maxPeers: 1000, seed: seed)
            }
            if step % 97 == 0 { now += 7 }
            if step % 501 == 0 { _ = swarm.sweep(cutoff: now - 50, now: now, seed: seed) }
            if step % 250 == 0 || step == 19_999 {
                var recount: [SourceKey: UInt32] = [:]
                for p in swarm.peers.indices {
                    if swarm.peers[p].flags & PeerSlot.hasV4 != 0 {
                        recount[SourceKey(.v4(IPv4Address(swarm.peers[p].v4))), default: 0] += 1
                    }
                    if swarm.peers[p].v6 >= 0 {
                        let e = swarm.v6[Int(swarm.peers[p].v6)]
                        recount[SourceKey(.v6(IPv6Address(high: e.high, low: e.low))), default: 0] += 1
                    }
                }
                if swarm.countingSources { #expect(swarm.sources == recount, "step \(step)") }
                #expect(recount.values.allSatisfy { $0 <= limit }, "step \(step): a source passed its quota")
                var users: [UInt32: UInt32] = [:]
                for p in swarm.peers.indices { users[swarm.peers[p].user, default: 0] += 1 }
                if swarm.countingUsers { #expect(swarm.users == users, "step \(step)") }
                #expect(users.values.allSatisfy { $0 <= userLimit }, "step \(step): a user passed its quota")
            }
        }
        #expect(swarm.countingSources, "the swarm grew past the quota, so it counts")
        #expect(swarm.countingUsers, "the swarm grew past the user quota, so it counts")
    }
}
