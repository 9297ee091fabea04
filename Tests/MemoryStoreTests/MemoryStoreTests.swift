import MemoryStore
import StoreConformance
import Testing
import TrackerCore

@Suite struct MemoryStoreTests {
    static func fixture(limits: MemoryStoreLimits = MemoryStoreLimits()) -> StoreFixture {
        let clock = ManualTrackerClock()
        return StoreFixture(clock: clock, store: MemoryStore(clock: clock, peerTTL: 1860, limits: limits, shardCount: 4), ttl: 1860)
    }

    @Test(arguments: StoreConformance.cases)
    func conformance(_ c: StoreConformance.Case) async throws {
        try await c.run { Self.fixture() }
    }

    @Test func maxTorrentsRefusesNewTorrentsWithAReason() async throws {
        let f = Self.fixture(limits: MemoryStoreLimits(maxTorrents: 2, maxPeersPerTorrent: 10))
        let e = Endpoint(address: .v4(IPv4Address(1, 2, 3, 4)), port: 1)
        func ann(_ h: Int) -> PeerAnnounce {
            PeerAnnounce(
                infoHash: StoreConformance.hashForTests(h), peerID: StoreConformance.peerForTests(1), endpoint: e, role: .leecher,
                numwant: 5)
        }
        _ = try await f.store.announce(ann(1))
        _ = try await f.store.announce(ann(2))
        await #expect(throws: StoreError.full("tracker is full (at most 2 torrents)")) { try await f.store.announce(ann(3)) }
        // Existing torrents keep working, and space comes back once a torrent expires.
        _ = try await f.store.announce(ann(1))
        f.clock.advance(by: 1861)
        try await f.store.expire()
        _ = try await f.store.announce(ann(3))
    }

    @Test func maxPeersPerTorrentRefusesNewPeersOnly() async throws {
        let f = Self.fixture(limits: MemoryStoreLimits(maxTorrents: 10, maxPeersPerTorrent: 3))
        let e = Endpoint(address: .v4(IPv4Address(1, 2, 3, 4)), port: 1)
        func ann(_ p: Int) -> PeerAnnounce {
            PeerAnnounce(
                infoHash: StoreConformance.hashForTests(1), peerID: StoreConformance.peerForTests(p), endpoint: e, role: .leecher,
                numwant: 5)
        }
        for p in 0..<3 { _ = try await f.store.announce(ann(p)) }
        await #expect(throws: StoreError.full("torrent is full (at most 3 peers)")) { try await f.store.announce(ann(3)) }
        #expect(try await f.store.announce(ann(2)).incomplete == 3)
    }
}
