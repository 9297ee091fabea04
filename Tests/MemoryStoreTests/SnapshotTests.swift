import Foundation
import MemoryStore
import Testing
import TrackerCore
import TrackerTestSupport

/// The memory store's snapshot: what a graceful stop writes, a start reads back, with what
/// expired in between dropped and everything else (endpoints, owners' keys, users, roles,
/// completions) as it was.
@Suite struct SnapshotTests {
    static let ttl = 3600
    static func store(start: UInt32) -> (MemoryPeerStore, ManualTrackerClock) {
        let clock = ManualTrackerClock(start: start)
        return (MemoryPeerStore(clock: clock, peerTTL: ttl, shardCount: 4), clock)
    }
    static func v4(_ d: UInt8, _ port: UInt16) -> Endpoint { Endpoint(address: .v4(IPv4Address(203, 0, 113, d)), port: port) }
    static func v6(_ low: UInt64, _ port: UInt16) -> Endpoint {
        Endpoint(address: .v6(IPv6Address(high: 0x2001_0db8_0000_0000, low: low)), port: port)
    }
    static func announce(
        _ s: MemoryPeerStore, hash: Int, peer: Int, _ e: Endpoint, role: PeerRole = .leecher, key: UInt32 = 0, user: UInt32 = 0,
        counts: Bool = false
    ) throws -> SwarmReply {
        try s.announceNow(
            PeerAnnounce(
                infoHash: StoreConformance.hashForTests(hash), peerID: StoreConformance.peerForTests(peer), endpoint: e, role: role,
                countsDownload: counts, numwant: 50, key: PeerKey(value: key), user: user)
        ).get()
    }

    static func path() -> String { TestFiles.path("snapshot") }

    @Test func aRestartKeepsTheSwarmsAndDropsWhatExpired() throws {
        let (a, clock) = Self.store(start: 10_000)
        _ = try Self.announce(a, hash: 1, peer: 1, Self.v4(1, 6881), role: .seeder, counts: true)
        _ = try Self.announce(a, hash: 1, peer: 2, Self.v4(2, 6882), key: 0xBEEF, user: 7)
        _ = try Self.announce(a, hash: 1, peer: 2, Self.v6(2, 6882), key: 0xBEEF, user: 7)
        _ = try Self.announce(a, hash: 2, peer: 3, Self.v4(3, 6883))
        clock.advance(by: 3000)
        // Fresh at the write: torrent 3's peer, and peer 2's IPv6 endpoint.
        _ = try Self.announce(a, hash: 3, peer: 4, Self.v6(4, 6884))
        _ = try Self.announce(a, hash: 1, peer: 2, Self.v6(2, 6882), key: 0xBEEF, user: 7)
        let file = Self.path()
        defer { unlink(file) }
        let written = try a.writeSnapshot(to: file, unixNow: 1_000_000)
        #expect(written == MemorySnapshotReport(torrents: 3, peers: 4, dropped: 0))
        var st = stat()
        #expect(stat(file, &st) == 0 && st.st_mode & 0o777 == 0o600)

        // 700 s later, in a new process (its clock elsewhere): what was 3000 s old is past the TTL.
        let (b, _) = Self.store(start: 4000)
        let report = try b.loadSnapshot(from: file, unixNow: 1_000_700)
        #expect(report == MemorySnapshotReport(torrents: 2, peers: 2, dropped: 2), "\(report)")
        let t = b.totalsNow()
        #expect(t.torrents == 2 && t.peers == 2 && t.seeders == 0 && t.ipv4Endpoints == 0 && t.ipv6Endpoints == 2)
        // Peer 2 kept its IPv6 endpoint (not its stale IPv4 one), its user and its key.
        let look = try Self.announce(b, hash: 1, peer: 9, Self.v4(9, 7000))
        #expect(look.peers == [SwarmPeer(peerID: StoreConformance.peerForTests(2), v6: Self.v6(2, 6882), user: 7)], "\(look.peers)")
        #expect(look.downloaded == 1, "the completion counted before the restart")
        let stranger = try Self.announce(b, hash: 1, peer: 2, Self.v6(66, 6882), user: 7)
        #expect(!stranger.recorded, "a stranger with peer 2's id and no key changes nothing")
        let owner = try Self.announce(b, hash: 1, peer: 2, Self.v6(66, 6882), key: 0xBEEF, user: 7)
        #expect(owner.recorded)
    }

    @Test func aDamagedSnapshotIsRefusedWhole() throws {
        let (a, _) = Self.store(start: 10_000)
        for p in 0..<5 { _ = try Self.announce(a, hash: p % 2, peer: p, Self.v4(UInt8(p), 7000)) }
        let file = Self.path()
        defer { unlink(file) }
        try a.writeSnapshot(to: file, unixNow: 5)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        for cut in [0, 7, 16, bytes.count / 2, bytes.count - 1] {
            try bytes.prefix(cut).write(to: URL(fileURLWithPath: file))
            let (b, _) = Self.store(start: 10_000)
            #expect(throws: MemorySnapshotError.self) { try b.loadSnapshot(from: file, unixNow: 5) }
            #expect(b.totalsNow().peers == 0, "nothing of a damaged snapshot is loaded")
        }
        var extra = bytes
        extra.append(0)
        try extra.write(to: URL(fileURLWithPath: file))
        #expect(throws: MemorySnapshotError.self) { try Self.store(start: 10_000).0.loadSnapshot(from: file, unixNow: 5) }
    }
}
