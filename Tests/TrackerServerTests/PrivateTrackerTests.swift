import PrivateCore
import Testing
import TrackerCore

@testable import TrackerServer

/// Bounds of private mode's per-announce tables.
@Suite struct PrivateTrackerTests {
    static func peer(_ n: Int) -> PeerID { PeerID(Array(("-qB5000-" + String(format: "%012d", n)).utf8))! }

    /// The hybrid-pair table never holds more than its bound; past it a pair is simply not
    /// recognised; once entries are older than the window a prune (at most once a window) makes
    /// room again.
    @Test func theHybridPairTableIsBounded() {
        let t = PrivateTracker(settings: .init(), registry: Registry(), journal: nil, maxHybridPeers: 100)
        let (a, b) = (InfoHash([UInt8](repeating: 1, count: 20))!, InfoHash([UInt8](repeating: 2, count: 20))!)
        for n in 0..<500 { _ = t.isHybridPair(user: 1, torrent: 1, peer: Self.peer(n), hash: a, now: 1000, window: 120) }
        #expect(t.hybridPeers == 100)
        // A known peer's pair is still recognised; a new one past the bound is not remembered.
        #expect(t.isHybridPair(user: 1, torrent: 1, peer: Self.peer(5), hash: b, now: 1010, window: 120))
        #expect(!t.isHybridPair(user: 1, torrent: 1, peer: Self.peer(900), hash: a, now: 1010, window: 120))
        #expect(!t.isHybridPair(user: 1, torrent: 1, peer: Self.peer(900), hash: b, now: 1011, window: 120))
        #expect(t.hybridPeers == 100)
        // Past the window the old entries go, and new peers are remembered again.
        #expect(!t.isHybridPair(user: 1, torrent: 1, peer: Self.peer(901), hash: a, now: 1200, window: 120))
        #expect(t.hybridPeers == 1)
        #expect(t.isHybridPair(user: 1, torrent: 1, peer: Self.peer(901), hash: b, now: 1201, window: 120))
    }
}
