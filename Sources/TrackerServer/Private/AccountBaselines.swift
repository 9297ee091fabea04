public import PrivateCore
public import RedisStore
public import TrackerCore

/// Where the accounting keeps each peer's baseline: in this process with the memory store, in
/// Redis with the Redis store (so that every instance on one Redis takes any announce of a peer
/// from the same baseline). Both pass `AccountBaselinesConformance`.
public protocol AccountBaselines: Sendable {
    /// One announce's step for (user, torrent); nil when it is not held (a full table). With
    /// a `ticket`, a store whose steps outlive this process (`durable`) keeps the outcome under
    /// its token, for `recorded`.
    func step(
        _ key: UserTorrent, peerID: PeerID, uploaded: UInt64, downloaded: UInt64, left: UInt64, event: AnnounceEvent, now: UInt32,
        window: UInt32, activeTTL: UInt32, maxPeers: Int, ticket: StepTicket?,
        completion: @escaping @Sendable (Result<TorrentAccount.Step?, StoreError>) -> Void
    )
    /// The steps outlive this process (Redis): `Accounting` journals an `AccountIntent` before
    /// each, so that one taken whose entry was never written can be made again.
    var durable: Bool { get }
    /// The step `intent`'s announce took, as its store kept it under the intent's token (nil:
    /// none kept, so the step was never taken).
    func recorded(_ intent: AccountIntent, window: UInt32) async -> Result<TorrentAccount.Step?, StoreError>
    /// Restores a baseline (the site's `peers` rows, the journal's replay). Redis keeps its
    /// own and ignores it.
    func restore(_ b: RestoredBaseline, maxPeers: Int)
    /// (user, torrent) pairs held and announces refused for lack of room, where known.
    var figures: (accounts: Int, refused: Int) { get }
    /// The baselines held for `peers` (user, peer_id) on `torrent`, in order (the site API's
    /// torrent view shows each peer's counters as the accounting last took them).
    func baselines(torrent: UInt32, peers: [(user: UInt32, peerID: PeerID)]) async -> [PeerBaseline?]
}

/// A step's token (its intent's) and the lowest token the instance still needs.
public struct StepTicket: Sendable, Equatable {
    public var token: UInt64
    public var low: UInt64
    public init(token: UInt64, low: UInt64) { (self.token, self.low) = (token, low) }
}

extension AccountBaselines {
    /// A step without a ticket.
    func step(
        _ key: UserTorrent, peerID: PeerID, uploaded: UInt64, downloaded: UInt64, left: UInt64, event: AnnounceEvent, now: UInt32,
        window: UInt32, activeTTL: UInt32, maxPeers: Int, completion: @escaping @Sendable (Result<TorrentAccount.Step?, StoreError>) -> Void
    ) {
        step(
            key, peerID: peerID, uploaded: uploaded, downloaded: downloaded, left: left, event: event, now: now, window: window,
            activeTTL: activeTTL, maxPeers: maxPeers, ticket: nil, completion: completion)
    }
}

/// The memory store's: an `AccountTable` under a lock; steps complete inline.
public final class MemoryAccountBaselines: AccountBaselines {
    private let table: Locked<AccountTable>

    public init(capacity: Int, ttl: UInt32) { table = Locked(AccountTable(capacity: capacity, ttl: ttl)) }

    public func step(
        _ key: UserTorrent, peerID: PeerID, uploaded: UInt64, downloaded: UInt64, left: UInt64, event: AnnounceEvent, now: UInt32,
        window: UInt32, activeTTL: UInt32, maxPeers: Int, ticket: StepTicket?,
        completion: @escaping @Sendable (Result<TorrentAccount.Step?, StoreError>) -> Void
    ) {
        let step = table.withLock {
            $0.step(
                key, peerID: peerID, uploaded: uploaded, downloaded: downloaded, left: left, event: event, now: now, window: window,
                activeTTL: activeTTL, maxPeers: maxPeers)
        }
        completion(.success(step))
    }

    public func restore(_ b: RestoredBaseline, maxPeers: Int) {
        table.withLock { $0.restore(b.key, peerID: b.peerID, baseline: b.baseline, completed: b.completed, maxPeers: maxPeers) }
    }

    public var figures: (accounts: Int, refused: Int) { table.withLock { ($0.count, $0.refused) } }

    /// The table goes with the process (and is restored from the journal's entries).
    public var durable: Bool { false }

    public func recorded(_ intent: AccountIntent, window: UInt32) async -> Result<TorrentAccount.Step?, StoreError> { .success(nil) }

    public func baselines(torrent: UInt32, peers: [(user: UInt32, peerID: PeerID)]) async -> [PeerBaseline?] {
        table.withLock { t in
            peers.map { p in t.account(UserTorrent(user: p.user, torrent: torrent))?.peers.first { $0.peerID == p.peerID }?.baseline }
        }
    }

}

/// The Redis store's: one hash per (user, torrent) in the store's Redis, stepped by a script,
/// forgotten `ttl` seconds after its last announce. Each step's outcome is also kept there in
/// `instance`'s step field (`RedisScripts.accountStep`), until the instance no longer needs it.
public struct RedisAccountBaselines: AccountBaselines {
    let store: RedisPeerStore
    let ttl: UInt32
    let field: [UInt8]

    public init(store: RedisPeerStore, ttl: UInt32, instance: String) {
        (self.store, self.ttl, self.field) = (store, ttl, RedisPeerStore.stepField(instance: instance))
    }

    public func step(
        _ key: UserTorrent, peerID: PeerID, uploaded: UInt64, downloaded: UInt64, left: UInt64, event: AnnounceEvent, now: UInt32,
        window: UInt32, activeTTL: UInt32, maxPeers: Int, ticket: StepTicket?,
        completion: @escaping @Sendable (Result<TorrentAccount.Step?, StoreError>) -> Void
    ) {
        store.accountStep(
            torrent: key.torrent, user: key.user, peerID: peerID, uploaded: uploaded, downloaded: downloaded, left: left, event: event,
            now: now, window: window, activeTTL: activeTTL, maxPeers: maxPeers, ttl: ttl,
            record: ticket.map { RedisPeerStore.StepRecord(field: field, token: $0.token, low: $0.low) }
        ) { result in
            completion(
                result.map { r in
                    Self.step(r, uploaded: uploaded, downloaded: downloaded, left: left, event: event, now: now, window: window)
                })
        }
    }

    /// The step an announce took from the script's answer (the deltas from its old baseline).
    static func step(
        _ r: RedisAccountStep, uploaded: UInt64, downloaded: UInt64, left: UInt64, event: AnnounceEvent, now: UInt32, window: UInt32
    ) -> TorrentAccount.Step {
        let old = r.old.map {
            PeerBaseline(uploaded: $0.uploaded, downloaded: $0.downloaded, at: $0.at, seeder: $0.seeder, active: $0.active)
        }
        let outcome = Counters.step(old, uploaded: uploaded, downloaded: downloaded, left: left, event: event, now: now, window: window)
        return TorrentAccount.Step(outcome: outcome, completion: r.completion, historyActive: event != .stopped || r.otherActive)
    }

    public var durable: Bool { true }

    public func recorded(_ i: AccountIntent, window: UInt32) async -> Result<TorrentAccount.Step?, StoreError> {
        await store.recordedSteps(torrent: i.torrent, user: i.user, field: field).map { steps in
            steps[i.token].map {
                Self.step($0, uploaded: i.uploaded, downloaded: i.downloaded, left: i.left, event: i.event, now: i.at, window: window)
            }
        }
    }

    public func restore(_ b: RestoredBaseline, maxPeers: Int) {}

    public var figures: (accounts: Int, refused: Int) { (0, 0) }

    public func baselines(torrent: UInt32, peers: [(user: UInt32, peerID: PeerID)]) async -> [PeerBaseline?] {
        await store.accountBaselines(torrent: torrent, peers: peers).map { b in
            b.map { PeerBaseline(uploaded: $0.uploaded, downloaded: $0.downloaded, at: $0.at, seeder: $0.seeder, active: $0.active) }
        }
    }
}
