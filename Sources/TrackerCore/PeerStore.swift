/// How a peer takes part in its swarm after an announce. Decided once, by `AnnounceLogic`.
public enum PeerRole: UInt8, Sendable, Equatable {
    /// `left > 0`: downloading. Counted in `incomplete`.
    case leecher = 0
    /// `left == 0`. Counted in `complete`; given no seeders.
    case seeder = 1
    /// BEP 21 partial seed (`event=paused` with `left > 0`): counted in `incomplete` but not in
    /// `downloaders`; like a seeder it is given no seeders, as it will not download from them.
    case partialSeed = 2

    public var wantsSeeders: Bool { self == .leecher }
}

/// The stores Squall has; the raw value is what logs, `/health` and `/stats.json` show.
public enum StoreKind: String, Sendable {
    case memory
    case redis
    case redisCluster = "redis-cluster"
}

/// The one store verb an announce needs: record the peer (or remove it) and sample others.
public struct PeerAnnounce: Sendable, Equatable {
    public var infoHash: InfoHash
    public var peerID: PeerID
    public var endpoint: Endpoint
    public var role: PeerRole
    /// Count one download for this peer unless it was already counted (`event=completed`).
    public var countsDownload: Bool
    /// Remove the peer (`event=stopped`): no sample is taken.
    public var remove: Bool
    /// How many other peers to sample, already capped by configuration.
    public var numwant: Int
    /// BEP 7's `key` digest: with `endpoint`'s address, what proves the announce is the peer's own.
    public var key: PeerKey
    /// What the announcing source may still add.
    public var quota: SourceQuota
    /// A private tracker's user (0 on an open tracker): a peer is (infoHash, user, peerID), so
    /// the same peer_id under two users is two peers.
    public var user: UInt32

    public init(
        infoHash: InfoHash, peerID: PeerID, endpoint: Endpoint, role: PeerRole, countsDownload: Bool = false,
        remove: Bool = false, numwant: Int, key: PeerKey = .none, quota: SourceQuota = .unlimited, user: UInt32 = 0
    ) {
        self.infoHash = infoHash
        self.peerID = peerID
        self.endpoint = endpoint
        self.role = role
        self.countsDownload = countsDownload
        self.remove = remove
        self.numwant = numwant
        self.key = key
        self.quota = quota
        self.user = user
    }
}

/// What a peer was before the announce that names it, for a private tracker's rules: how long
/// ago it last announced (the minimum-interval rule, with the dual-stack exemption), whether it
/// was seeding (a completion is a leecher becoming a seeder) and whether its completion was
/// already counted.
public struct PeerPast: Sendable, Equatable {
    /// Seconds since its last announce over either family.
    public var sinceLast: Int
    /// Seconds since its last announce over this announce's family; nil when it had no
    /// endpoint of that family (the first announce of a dual-stack pair's other half).
    public var sinceLastSameFamily: Int?
    public var wasSeeder: Bool
    public var downloadCounted: Bool

    public init(sinceLast: Int, sinceLastSameFamily: Int?, wasSeeder: Bool, downloadCounted: Bool) {
        (self.sinceLast, self.sinceLastSameFamily, self.wasSeeder, self.downloadCounted) =
            (sinceLast, sinceLastSameFamily, wasSeeder, downloadCounted)
    }
}

/// What the store answers an announce with: counts after the update, and the sample.
public struct SwarmReply: Sendable, Equatable {
    public var complete: Int
    public var incomplete: Int
    public var downloaded: Int
    public var peers: [SwarmPeer]
    /// False when the announce came from someone who does not own the peer it names (see
    /// `PeerStore`): it was answered, and the store changed nothing.
    public var recorded: Bool
    /// True when this announce created its torrent (for the per-source rate of new torrents).
    public var createdTorrent: Bool
    /// The named peer before this announce; nil when it was new (for `remove`: unknown).
    public var past: PeerPast?
    /// Of `peers`, how many lead the list as seeders (the store samples seeders first): a private
    /// tracker's seed-list limit drops that many.
    public var seedersSampled: Int
    public init(
        complete: Int, incomplete: Int, downloaded: Int, peers: [SwarmPeer], recorded: Bool = true, createdTorrent: Bool = false,
        past: PeerPast? = nil, seedersSampled: Int = 0
    ) {
        (self.complete, self.incomplete, self.downloaded, self.peers) = (complete, incomplete, downloaded, peers)
        (self.recorded, self.createdTorrent, self.past, self.seedersSampled) = (recorded, createdTorrent, past, seedersSampled)
    }
}

/// Where swarms live. Every store passes `StoreConformance`.
///
/// Contract:
/// - A peer is `(infoHash, user, peerID)` (`user` is 0 on an open tracker). Announcing the same peer over IPv4 and IPv6 gives it two
///   endpoints, one per family; each announce replaces the endpoint of its own family only.
///   The peer is counted once.
/// - `complete`/`incomplete`/`downloaded` are exact at the moment of the reply and include the
///   announcing peer (a `remove` reply reflects the removal).
/// - The sample holds at most `numwant` peers, never the announcing peer, never seeders when the
///   role does not want them, chosen at random; its cost depends on `numwant`, not on swarm size.
///   Each sampled peer carries every endpoint the store knows for it.
/// - An endpoint that has not been announced for `peerTTL` seconds is gone; a peer with no
///   endpoint left is gone, lazily at the next touch of its torrent and at the latest after the
///   next `expire` pass.
/// - `downloaded` grows by one per peer that announces `countsDownload`, at most once per peer.
/// - Ownership (BEP 7): a peer keeps the `key` it first announced with. An endpoint is
///   refreshed, moved or removed only by an announce from the address it was recorded from, or
///   by one carrying the peer's key; a second family attaches to the peer only with its key. Any
///   other announce naming the peer is a stranger's: it gets the counts and a sample (never the
///   named peer) with `recorded == false`, and changes nothing, so a stranger's `stopped`
///   removes nothing and its `completed` counts nothing. `stopped` with the key removes the
///   peer; from the recorded address alone it removes that family's endpoint. A peer whose
///   endpoints have all passed `peerTTL` is gone: its peer_id starts a new peer.
/// - Quotas: a source (an IPv4 address, an IPv6 /64) holds at most `quota.peersPerTorrent`
///   endpoints in one torrent, and creates a torrent only with `quota.mayCreateTorrent`; a
///   user holds at most `quota.peersPerUser` peers in one torrent; beyond any of them the
///   announce fails with `StoreError.quota` and changes nothing.
/// - `past` tells what the named peer was before the announce (nil: new, or for `remove`, not
///   held); `seedersSampled` how many of the sample, at its head, are seeders.
///
/// The hot-path verbs (announce, scrape) complete through a callback, so that a store answering
/// from memory finishes inline on the caller's thread (no task or thread hop per announce),
/// while a networked store completes from its own I/O. Callers must accept either.
///
/// The bulk verbs (totals, rows, peer rows, expire, health) are `async`: they may walk every
/// torrent, so callers run them off the event loops (the router on its bulk-work pool, the
/// expiry service on its own task). They honour cancellation between their steps (shards,
/// buckets, chunks, torrents) by throwing `StoreError.cancelled`, and start no task of their own.
public protocol PeerStore: Sendable {
    func announce(_ announce: PeerAnnounce, completion: @escaping @Sendable (Result<SwarmReply, StoreError>) -> Void)
    /// Figures for each known hash; unknown hashes are left out.
    func scrape(_ hashes: [InfoHash], completion: @escaping @Sendable (Result<[InfoHash: ScrapeEntry], StoreError>) -> Void)
    /// Every torrent's figures (for a full scrape), at most `limit` of them.
    func scrapeAll(limit: Int, completion: @escaping @Sendable (Result<[InfoHash: ScrapeEntry], StoreError>) -> Void)
    func totals() async throws(StoreError) -> SwarmTotals
    /// Drops what has expired; returns how many peers went. Stores call it from their own
    /// background service too.
    @discardableResult
    func expire() async throws(StoreError) -> Int
    /// Every torrent with peers, as the statistics table shows it (the caller filters, sorts and
    /// pages). Endpoints past their time are not counted.
    func torrentRows() async throws(StoreError) -> [TorrentRow]
    /// At most `limit` peers of one torrent, seeders first; nil when the torrent has none.
    func peerRows(of hash: InfoHash, limit: Int) async throws(StoreError) -> [PeerRow]?
    /// Which store this is, for logs, `/health` and the statistics.
    var kind: StoreKind { get }
    /// True when the hot-path verbs complete inline on the caller's thread (a store in this
    /// process). False for a networked store, whose connections belong to event loops: callers
    /// off a loop (the plain-HTTP acceptor threads) call it from a loop of their own choosing,
    /// so each call goes out on that loop's connection.
    var completesInline: Bool { get }
    /// Whether the store can serve right now (for `/health`); answers within the store's timeout.
    func health() async -> Bool
    /// Keeps every endpoint at least `seconds` after its announce from now on (a reload that
    /// lengthens `announce.interval`). Never shortens it: clients told the longer interval
    /// before a reload that shortens it are still on their way.
    func extendPeerTTL(to seconds: Int)
}

extension PeerStore {
    /// Stores in this process are always up.
    public func health() async -> Bool { true }
    public var completesInline: Bool { true }
    public func peerRows(of hash: InfoHash) async throws(StoreError) -> [PeerRow]? { try await peerRows(of: hash, limit: 1000) }
}

extension PeerStore {
    public func announce(_ announce: PeerAnnounce) async throws(StoreError) -> SwarmReply {
        try await awaitCallback { self.announce(announce, completion: $0) }
    }
    public func scrape(_ hashes: [InfoHash]) async throws(StoreError) -> [InfoHash: ScrapeEntry] {
        try await awaitCallback { self.scrape(hashes, completion: $0) }
    }
    public func scrapeAll(limit: Int) async throws(StoreError) -> [InfoHash: ScrapeEntry] {
        try await awaitCallback { self.scrapeAll(limit: limit, completion: $0) }
    }
}

/// A callback verb awaited (for tests and the bulk verbs built on callback commands).
public func awaitCallback<T: Sendable>(
    _ call: (@escaping @Sendable (Result<T, StoreError>) -> Void) -> Void
) async throws(StoreError) -> T {
    let result: Result<T, StoreError> = await withCheckedContinuation { continuation in
        call { continuation.resume(returning: $0) }
    }
    return try result.get()
}
