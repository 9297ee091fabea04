import StoreConformance
import Testing
import TrackerCore

@testable import MemoryStore

/// The swarm's IPv6 pool gives memory back once most of it is free.
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
        for n in 0..<1000 { _ = swarm.upsert(announce(n), now: 10, maxPeers: 10_000, seed: seed) }
        #expect(swarm.v6.count == 1000)
        // 900 leave (stopped): the pool is compacted on the way down.
        for n in 0..<900 {
            guard let p = swarm.position(of: StoreConformance.peerForTests(n).raw, seed: seed) else {
                Issue.record("peer \(n) missing")
                return
            }
            _ = swarm.remove(at: p, seed: seed)
        }
        #expect(swarm.count == 100)
        #expect(swarm.v6.count <= 400, "the pool shrank (it held \(swarm.v6.count) slots for 100 endpoints)")
        for n in 900..<1000 {
            let p = swarm.position(of: StoreConformance.peerForTests(n).raw, seed: seed)!
            let slot = swarm.v6[Int(swarm.peers[p].v6)]
            #expect(slot.high == v6(n).high && slot.low == v6(n).low && slot.port == UInt16(1000 + n), "peer \(n) keeps its endpoint")
        }
        // New peers after compaction get slots of their own.
        for n in 2000..<2100 { _ = swarm.upsert(announce(n), now: 11, maxPeers: 10_000, seed: seed) }
        var seen = Set<Int32>()
        for p in swarm.peers.indices { #expect(seen.insert(swarm.peers[p].v6).inserted, "no two peers share a slot") }
        // Expiry of most IPv6 endpoints shrinks it too.
        _ = swarm.sweep(cutoff: 10, now: 2000, seed: seed)
        #expect(swarm.count == 100 && swarm.v6.count <= 400)
    }
}
