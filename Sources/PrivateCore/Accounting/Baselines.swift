public import TrackerCore

/// What the accounting holds for one (user, torrent): the baseline of each of the user's peers
/// there (a few: a user may run at most a few clients on one torrent, and each peer_id it
/// rotates through replaces its own oldest), and whether the (user, torrent)'s completion was
/// counted. Both hashes of a hybrid torrent and both address families share it, since it is
/// keyed by the registry's torrent id.
public struct TorrentAccount: Sendable, Equatable {
    public struct Peer: Sendable, Equatable {
        public var peerID: PeerID
        public var baseline: PeerBaseline
        public init(peerID: PeerID, baseline: PeerBaseline) { (self.peerID, self.baseline) = (peerID, baseline) }
    }
    public var peers: [Peer] = []
    /// `times_completed` was counted for this (user, torrent).
    public var completed = false

    public init(peers: [Peer] = [], completed: Bool = false) { (self.peers, self.completed) = (peers, completed) }

    /// The latest announce of any of its peers (unix seconds).
    public var lastAt: UInt32 { peers.map(\.baseline.at).max() ?? 0 }

    /// One announce's step for this (user, torrent).
    public struct Step: Sendable, Equatable {
        public var outcome: CounterOutcome
        /// This announce is the (user, torrent)'s completion: its first leecher-to-seeder step.
        public var completion: Bool
        /// `history.active`: not stopped, or another of the user's peers here is active (it
        /// announced within `activeTTL`).
        public var historyActive: Bool

        public init(outcome: CounterOutcome, completion: Bool, historyActive: Bool) {
            (self.outcome, self.completion, self.historyActive) = (outcome, completion, historyActive)
        }
    }

    /// Takes one announce of `peerID` (see `Counters.step`), keeps its new baseline, and drops
    /// the user's stalest other peer here beyond `maxPeers` (a stopped one first): a client
    /// rotating peer_ids replaces its own entries, never another user's.
    public mutating func step(
        peerID: PeerID, uploaded: UInt64, downloaded: UInt64, left: UInt64, event: AnnounceEvent, now: UInt32, window: UInt32,
        activeTTL: UInt32, maxPeers: Int
    ) -> Step {
        let index = peers.firstIndex { $0.peerID == peerID }
        let outcome = Counters.step(
            index.map { peers[$0].baseline }, uploaded: uploaded, downloaded: downloaded, left: left, event: event, now: now,
            window: window)
        let completion = outcome.completed && !completed
        if completion { completed = true }
        if let index {
            peers[index].baseline = outcome.baseline
        } else {
            peers.append(Peer(peerID: peerID, baseline: outcome.baseline))
            while peers.count > max(1, maxPeers) {
                // The stalest of the others: stopped ones first, then the oldest, then the lowest
                // peer_id (so Redis's script, which walks its hash in no order, picks the same).
                let victim = peers.indices.filter { peers[$0].peerID != peerID }.min { a, b in
                    let (x, y) = (peers[a].baseline, peers[b].baseline)
                    if x.active != y.active { return !x.active }
                    if x.at != y.at { return x.at < y.at }
                    return peers[a].peerID.raw.bytes.lexicographicallyPrecedes(peers[b].peerID.raw.bytes)
                }
                guard let victim else { break }
                peers.remove(at: victim)
            }
        }
        let historyActive =
            event != .stopped
            || peers.contains { $0.peerID != peerID && $0.baseline.active && now &- $0.baseline.at < activeTTL }
        return Step(outcome: outcome, completion: completion, historyActive: historyActive)
    }
}

/// The memory store's accounting table: a `TorrentAccount` per (user, torrent), forgotten
/// `ttl` seconds after its last announce (UNIT3D-Announce keeps an inactive peer 21 days), and
/// at most `capacity` of them: when full (after dropping what has expired), a new (user,
/// torrent) is not held, so its announces credit nothing until room is made, and no one's
/// entries are pushed out by another's.
public struct AccountTable: Sendable {
    public private(set) var accounts: [UserTorrent: TorrentAccount] = [:]
    public let capacity: Int
    public let ttl: UInt32
    private var sweptAt: UInt32 = 0
    /// Announces not held because the table was full.
    public private(set) var refused = 0

    public init(capacity: Int, ttl: UInt32) { (self.capacity, self.ttl) = (max(1, capacity), ttl) }

    public var count: Int { accounts.count }

    /// The step for one announce; nil when the table is full and the (user, torrent) is not
    /// held (the caller credits nothing).
    public mutating func step(
        _ key: UserTorrent, peerID: PeerID, uploaded: UInt64, downloaded: UInt64, left: UInt64, event: AnnounceEvent, now: UInt32,
        window: UInt32, activeTTL: UInt32, maxPeers: Int
    ) -> TorrentAccount.Step? {
        // One lookup for a pair already held (most announces).
        if let i = accounts.index(forKey: key) {
            return accounts.values[i].step(
                peerID: peerID, uploaded: uploaded, downloaded: downloaded, left: left, event: event, now: now, window: window,
                activeTTL: activeTTL, maxPeers: maxPeers)
        }
        if accounts.count >= capacity {
            // A walk of the table, so at most once a minute.
            if now &- sweptAt >= 60 { sweep(now: now) }
            if accounts.count >= capacity {
                refused += 1
                return nil
            }
        }
        return accounts[key, default: TorrentAccount()].step(
            peerID: peerID, uploaded: uploaded, downloaded: downloaded, left: left, event: event, now: now, window: window,
            activeTTL: activeTTL, maxPeers: maxPeers)
    }

    /// Drops every (user, torrent) whose last announce is `ttl` old; returns how many went.
    @discardableResult
    public mutating func sweep(now: UInt32) -> Int {
        sweptAt = now
        let before = accounts.count
        accounts = accounts.filter { now &- $0.value.lastAt < ttl }
        return before - accounts.count
    }

    /// Restores a peer's baseline (from the site's `peers` rows at startup, or the journal's
    /// replay): kept only if newer than what is held, and only while there is room.
    public mutating func restore(_ key: UserTorrent, peerID: PeerID, baseline: PeerBaseline, completed: Bool, maxPeers: Int) {
        guard accounts[key] != nil || accounts.count < capacity else { return }
        var account = accounts[key, default: TorrentAccount()]
        if completed { account.completed = true }
        if let i = account.peers.firstIndex(where: { $0.peerID == peerID }) {
            if baseline.at >= account.peers[i].baseline.at { account.peers[i].baseline = baseline }
        } else if account.peers.count < max(1, maxPeers) {
            account.peers.append(TorrentAccount.Peer(peerID: peerID, baseline: baseline))
        }
        accounts[key] = account
    }

    public func account(_ key: UserTorrent) -> TorrentAccount? { accounts[key] }
}

/// A peer's baseline to restore into the accounting's table at startup: from the site's
/// `peers` rows (contract §3 step 3b), or from a journalled entry.
public struct RestoredBaseline: Sendable, Equatable {
    public var key: UserTorrent
    public var peerID: PeerID
    public var baseline: PeerBaseline
    /// The (user, torrent) has completed (`history.completed_at`, or the entry's completion).
    public var completed: Bool

    public init(key: UserTorrent, peerID: PeerID, baseline: PeerBaseline, completed: Bool) {
        (self.key, self.peerID, self.baseline, self.completed) = (key, peerID, baseline, completed)
    }

    /// What a journalled entry left as its peer's baseline.
    public init(_ e: AccountEntry) {
        self.init(
            key: UserTorrent(user: e.user, torrent: e.torrent), peerID: e.peerID,
            baseline: PeerBaseline(
                uploaded: e.clientUploaded, downloaded: e.clientDownloaded, at: e.at, seeder: e.seeder, active: e.peerActive),
            completed: e.completion)
    }
}
