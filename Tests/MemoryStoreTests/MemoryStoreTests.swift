import MemoryStore
import Testing
import TrackerCore
import TrackerTestSupport

@Suite struct MemoryStoreTests {
    static func fixture(limits: MemoryStoreLimits = MemoryStoreLimits()) -> StoreFixture {
        let clock = ManualTrackerClock()
        return StoreFixture(clock: clock, store: MemoryPeerStore(clock: clock, peerTTL: 1860, limits: limits, shardCount: 4), ttl: 1860)
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

    /// Many torrents of modest swarms are bounded too: `maxPeers` counts every peer.
    @Test func maxPeersRefusesNewPeersAcrossTorrentsAndFreesOnLeaveAndExpiry() async throws {
        let f = Self.fixture(limits: MemoryStoreLimits(maxTorrents: 100, maxPeersPerTorrent: 100, maxPeers: 4))
        let e = Endpoint(address: .v4(IPv4Address(1, 2, 3, 4)), port: 1)
        func ann(_ h: Int, _ p: Int, remove: Bool = false) -> PeerAnnounce {
            PeerAnnounce(
                infoHash: StoreConformance.hashForTests(h), peerID: StoreConformance.peerForTests(p), endpoint: e, role: .leecher,
                remove: remove, numwant: 5)
        }
        for (h, p) in [(1, 1), (1, 2), (2, 3), (3, 4)] { _ = try await f.store.announce(ann(h, p)) }
        let full = StoreError.full("tracker is full (at most 4 peers)")
        await #expect(throws: full) { try await f.store.announce(ann(1, 5)) }
        await #expect(throws: full, "nor in a new torrent") { try await f.store.announce(ann(9, 5)) }
        #expect(try await f.store.announce(ann(1, 2)).incomplete == 2, "peers already in keep announcing")
        #expect(try await f.store.totals().torrents == 3, "the refused new torrent was not created")
        // A peer that leaves frees its place.
        _ = try await f.store.announce(ann(2, 3, remove: true))
        _ = try await f.store.announce(ann(4, 5))
        await #expect(throws: full) { try await f.store.announce(ann(4, 6)) }
        // And so do peers that expire.
        f.clock.advance(by: 1861)
        #expect(try await f.store.expire() == 4)
        for p in 6...9 { _ = try await f.store.announce(ann(5, p)) }
        await #expect(throws: full) { try await f.store.announce(ann(5, 10)) }
    }
}
