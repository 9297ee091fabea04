public import TrackerCore

/// One successful private announce as the accounting keeps it: what goes to the journal, and
/// what the ledger merges into the rows UNIT3D's tables receive (contract §4.2).
public struct AccountEntry: Sendable, Equatable {
    public var user: UInt32
    public var torrent: UInt32
    public var peerID: PeerID
    /// Unix seconds of the announce.
    public var at: UInt32
    /// The User-Agent, at most 64 bytes.
    public var agent: String
    /// This announce's address: 4 bytes (IPv4) or 16 (IPv6), and port.
    public var ip: [UInt8]
    public var port: UInt16
    /// The client's cumulative values, as reported.
    public var clientUploaded: UInt64
    public var clientDownloaded: UInt64
    public var left: UInt64
    /// Raw deltas (the counter rule's) and credited ones (times the factors).
    public var actualUploaded: UInt64
    public var actualDownloaded: UInt64
    public var uploaded: UInt64
    public var downloaded: UInt64
    /// `history.active`: not `stopped`, or the user still has another active peer here.
    public var active: Bool
    /// `peers.active`: not `stopped`.
    public var peerActive: Bool
    public var visible: Bool
    public var immune: Bool
    /// `event=completed` (sets `history.completed_at`).
    public var completedEvent: Bool
    /// Whether this announce is the (user, torrent)'s completion (`times_completed` + 1).
    public var completion: Bool
    public var seederDelta: Int32
    public var leecherDelta: Int32

    public init(
        user: UInt32, torrent: UInt32, peerID: PeerID, at: UInt32, agent: String = "", ip: [UInt8] = [127, 0, 0, 1], port: UInt16 = 6881,
        clientUploaded: UInt64 = 0, clientDownloaded: UInt64 = 0, left: UInt64 = 0, actualUploaded: UInt64 = 0,
        actualDownloaded: UInt64 = 0, uploaded: UInt64 = 0, downloaded: UInt64 = 0, active: Bool = true, peerActive: Bool = true,
        visible: Bool = true, immune: Bool = false, completedEvent: Bool = false, completion: Bool = false, seederDelta: Int32 = 0,
        leecherDelta: Int32 = 0
    ) {
        (self.user, self.torrent, self.peerID, self.at, self.agent, self.ip, self.port) = (user, torrent, peerID, at, agent, ip, port)
        (self.clientUploaded, self.clientDownloaded, self.left) = (clientUploaded, clientDownloaded, left)
        (self.actualUploaded, self.actualDownloaded, self.uploaded, self.downloaded) =
            (actualUploaded, actualDownloaded, uploaded, downloaded)
        (self.active, self.peerActive, self.visible, self.immune) = (active, peerActive, visible, immune)
        (self.completedEvent, self.completion, self.seederDelta, self.leecherDelta) =
            (completedEvent, completion, seederDelta, leecherDelta)
    }

    public var seeder: Bool { left == 0 }
}

/// A pending `history` upsert for one (user, torrent), merged as UNIT3D-Announce's queue does
/// (contract §4.2), except that the first completion time is kept (its merge keeps the newest,
/// NULL included, and so can lose one: §7).
public struct HistoryUpdate: Sendable, Equatable {
    public var user: UInt32
    public var torrent: UInt32
    public var agent: String
    public var uploaded: UInt64
    public var actualUploaded: UInt64
    public var clientUploaded: UInt64
    public var downloaded: UInt64
    public var actualDownloaded: UInt64
    public var clientDownloaded: UInt64
    public var seeder: Bool
    public var active: Bool
    public var immune: Bool
    public var createdAt: UInt32
    public var updatedAt: UInt32
    public var completedAt: UInt32?

    public init(_ e: AccountEntry) {
        (user, torrent, agent) = (e.user, e.torrent, e.agent)
        (uploaded, actualUploaded, clientUploaded) = (e.uploaded, e.actualUploaded, e.clientUploaded)
        (downloaded, actualDownloaded, clientDownloaded) = (e.downloaded, e.actualDownloaded, e.clientDownloaded)
        (seeder, active, immune, createdAt, updatedAt) = (e.seeder, e.active, e.immune, e.at, e.at)
        completedAt = e.completedEvent ? e.at : nil
    }

    /// Takes a later update of the same key in: sums add (saturating), the newest values win
    /// (ties: the later arrival), the first immunity and the first completion are kept.
    public mutating func merge(_ n: HistoryUpdate) {
        uploaded = uploaded.addingSaturated(n.uploaded)
        actualUploaded = actualUploaded.addingSaturated(n.actualUploaded)
        downloaded = downloaded.addingSaturated(n.downloaded)
        actualDownloaded = actualDownloaded.addingSaturated(n.actualDownloaded)
        if n.updatedAt >= updatedAt {
            (agent, clientUploaded, clientDownloaded, seeder, active) = (n.agent, n.clientUploaded, n.clientDownloaded, n.seeder, n.active)
            updatedAt = n.updatedAt
        }
        createdAt = min(createdAt, n.createdAt)
        if completedAt == nil { completedAt = n.completedAt } else if let c = n.completedAt { completedAt = min(completedAt!, c) }
    }
}

/// A pending `peers` upsert for one (user, torrent, peer_id): the newest announce's values
/// (strictly later `updated_at`; on a tie the older stays, as UNIT3D-Announce's merge), the
/// earliest creation.
public struct PeerUpdate: Sendable, Equatable {
    public var user: UInt32
    public var torrent: UInt32
    public var peerID: PeerID
    public var ip: [UInt8]
    public var port: UInt16
    public var agent: String
    public var uploaded: UInt64
    public var downloaded: UInt64
    public var left: UInt64
    public var active: Bool
    public var visible: Bool
    public var createdAt: UInt32
    public var updatedAt: UInt32

    public init(_ e: AccountEntry) {
        (user, torrent, peerID, ip, port, agent) = (e.user, e.torrent, e.peerID, e.ip, e.port, e.agent)
        (uploaded, downloaded, left, active, visible) = (e.clientUploaded, e.clientDownloaded, e.left, e.peerActive, e.visible)
        (createdAt, updatedAt) = (e.at, e.at)
    }

    public var seeder: Bool { left == 0 }

    public mutating func merge(_ n: PeerUpdate) {
        let created = min(createdAt, n.createdAt)
        if n.updatedAt > updatedAt { self = n }
        createdAt = created
    }
}

/// A pending `torrents` update: signed deltas, summed.
public struct TorrentUpdate: Sendable, Equatable {
    public var torrent: UInt32
    public var seeders: Int64 = 0
    public var leechers: Int64 = 0
    public var timesCompleted: Int64 = 0
    /// Raw upload minus raw download (factors not applied).
    public var balance: Int64 = 0

    public init(torrent: UInt32) { self.torrent = torrent }

    public init(_ e: AccountEntry) {
        torrent = e.torrent
        (seeders, leechers, timesCompleted) = (Int64(e.seederDelta), Int64(e.leecherDelta), e.completion ? 1 : 0)
        balance = Int64(clamping: e.actualUploaded).subtractingSaturated(Int64(clamping: e.actualDownloaded))
    }

    /// Whether UNIT3D-Announce would queue it: a count changed or a raw delta is non-zero.
    public var isEmpty: Bool { seeders == 0 && leechers == 0 && timesCompleted == 0 && balance == 0 }

    public mutating func merge(_ n: TorrentUpdate) {
        seeders = seeders.addingSaturated(n.seeders)
        leechers = leechers.addingSaturated(n.leechers)
        timesCompleted = timesCompleted.addingSaturated(n.timesCompleted)
        balance = balance.addingSaturated(n.balance)
    }
}

/// A pending `users` update: the credited deltas, summed over the user's torrents.
public struct UserUpdate: Sendable, Equatable {
    public var user: UInt32
    public var uploaded: UInt64
    public var downloaded: UInt64

    public init(user: UInt32, uploaded: UInt64, downloaded: UInt64) {
        (self.user, self.uploaded, self.downloaded) = (user, uploaded, downloaded)
    }

    public mutating func merge(_ n: UserUpdate) {
        uploaded = uploaded.addingSaturated(n.uploaded)
        downloaded = downloaded.addingSaturated(n.downloaded)
    }
}

/// A pending update that takes a newer one of its key into itself.
public protocol Mergeable: Sendable {
    mutating func merge(_ newer: Self)
}

extension HistoryUpdate: Mergeable {}
extension PeerUpdate: Mergeable {}
extension TorrentUpdate: Mergeable {}
extension UserUpdate: Mergeable {}

/// Updates merged by key in the order their keys first came (a merged key keeps its place), so
/// memory grows with the keys, not with the announces. (The merge is the value's own, not a
/// stored closure, so each queue's is specialized and inlined on the announce path.)
public struct KeyedQueue<Key: Hashable & Sendable, Value: Mergeable>: Sendable {
    private var values: [Key: Value] = [:]
    private var order: [Key] = []
    private var head = 0

    public init() {}

    public var count: Int { values.count }
    public var isEmpty: Bool { values.isEmpty }
    public func contains(_ key: Key) -> Bool { values[key] != nil }

    public mutating func add(_ key: Key, _ value: Value) {
        // One lookup for a key already pending (most announces, between two flushes).
        if let i = values.index(forKey: key) {
            values.values[i].merge(value)
        } else {
            values[key] = value
            order.append(key)
        }
    }

    /// Removes and returns up to `limit` of the oldest keys' updates.
    public mutating func take(_ limit: Int) -> [(Key, Value)] {
        var out: [(Key, Value)] = []
        out.reserveCapacity(min(limit, values.count))
        while out.count < limit, head < order.count {
            let key = order[head]
            head += 1
            if let v = values.removeValue(forKey: key) { out.append((key, v)) }
        }
        // Compact the order once its taken part dominates it.
        if head > 1024, head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
        return out
    }

    /// Puts updates back after a failed write: each merged with any newer pending one of its
    /// key (the pending one is newer, so it is merged into the returned one), in front.
    public mutating func putBack(_ batch: [(Key, Value)]) {
        // A key may then stand twice in the order; `take` skips the place it no longer holds.
        var front: [Key] = []
        for (key, var value) in batch {
            if let newer = values[key] { value.merge(newer) }
            values[key] = value
            front.append(key)
        }
        order = front + order[head...]
        head = 0
    }

    /// Every pending update, oldest key first (for tests and the journal's compaction).
    public var pending: [(Key, Value)] {
        var seen = Set<Key>()
        return order[head...].compactMap { k in seen.insert(k).inserted ? values[k].map { (k, $0) } : nil }
    }
}

public struct PeerKey: Hashable, Sendable {
    public var user: UInt32
    public var torrent: UInt32
    public var peerID: PeerID
    public init(user: UInt32, torrent: UInt32, peerID: PeerID) { (self.user, self.torrent, self.peerID) = (user, torrent, peerID) }
}

/// The accounting's pending writes: one keyed queue per table UNIT3D-Announce writes (history,
/// peers, torrents, users), filled from `AccountEntry`s by its enqueue rules.
public struct Ledger: Sendable {
    public var history = KeyedQueue<UserTorrent, HistoryUpdate>()
    public var peers = KeyedQueue<PeerKey, PeerUpdate>()
    public var torrents = KeyedQueue<UInt32, TorrentUpdate>()
    public var users = KeyedQueue<UInt32, UserUpdate>()

    public init() {}

    /// Peer rows not queued because `maxPeerRows` were pending.
    public private(set) var skippedPeerRows = 0

    /// Enqueues an announce: history and peers always; the torrent when a count changed or a
    /// raw delta is non-zero; the user when a credited delta is non-zero. With `maxPeerRows`
    /// peer rows pending, a new peer's row is not queued (its credit still is): a client
    /// rotating peer_ids while the database is away cannot grow the queue without bound.
    public mutating func add(_ e: AccountEntry, maxPeerRows: Int = .max) {
        history.add(UserTorrent(user: e.user, torrent: e.torrent), HistoryUpdate(e))
        let key = PeerKey(user: e.user, torrent: e.torrent, peerID: e.peerID)
        if peers.count < maxPeerRows || peers.contains(key) {
            peers.add(key, PeerUpdate(e))
        } else {
            skippedPeerRows += 1
        }
        let t = TorrentUpdate(e)
        if !t.isEmpty || e.actualUploaded != 0 || e.actualDownloaded != 0 { torrents.add(e.torrent, t) }
        if e.uploaded != 0 || e.downloaded != 0 {
            users.add(e.user, UserUpdate(user: e.user, uploaded: e.uploaded, downloaded: e.downloaded))
        }
    }

    /// Pending keys over every table.
    public var count: Int { history.count + peers.count + torrents.count + users.count }
}

extension UInt64 {
    func addingSaturated(_ o: UInt64) -> UInt64 {
        let (v, over) = addingReportingOverflow(o)
        return over ? .max : v
    }
}

extension Int64 {
    func addingSaturated(_ o: Int64) -> Int64 {
        let (v, over) = addingReportingOverflow(o)
        return over ? (o > 0 ? .max : .min) : v
    }
    func subtractingSaturated(_ o: Int64) -> Int64 {
        let (v, over) = subtractingReportingOverflow(o)
        return over ? (o < 0 ? .max : .min) : v
    }
}

/// What one flush writes: every pending update of the ledger, the seeder and leecher counts of
/// the torrents to recount (absolute, from the store), and the journal's sequence number of the
/// last entry it holds, written in the same transaction so that a replay never applies an
/// entry twice.
public struct FlushBatch: Sendable {
    public var history: [HistoryUpdate]
    public var peers: [PeerUpdate]
    public var torrents: [TorrentUpdate]
    public var users: [UserUpdate]
    /// Torrent id to (seeders, leechers) as the store counts them now.
    public var counts: [UInt32: (seeders: Int, leechers: Int)]
    public var sequence: UInt64

    public init(
        history: [HistoryUpdate] = [], peers: [PeerUpdate] = [], torrents: [TorrentUpdate] = [], users: [UserUpdate] = [],
        counts: [UInt32: (seeders: Int, leechers: Int)] = [:], sequence: UInt64
    ) {
        (self.history, self.peers, self.torrents, self.users, self.counts, self.sequence) =
            (history, peers, torrents, users, counts, sequence)
    }

    public var isEmpty: Bool { history.isEmpty && peers.isEmpty && torrents.isEmpty && users.isEmpty && counts.isEmpty }
}

extension FlushBatch {
    /// A torrent's part of a flush: its deltas and, when recounted, its counts.
    public struct TorrentRow: Sendable, Equatable {
        public var id: UInt32
        /// -1: not recounted in this flush.
        public var seeders = -1
        public var leechers = -1
        public var completed: Int64 = 0
        public var balance: Int64 = 0
        /// An announce changed it (not only a recount).
        public var touched = false
    }

    /// Every torrent of the flush, by id.
    public var torrentRows: [TorrentRow] {
        var rows: [UInt32: TorrentRow] = [:]
        for t in torrents {
            rows[t.torrent, default: TorrentRow(id: t.torrent)].completed = t.timesCompleted
            rows[t.torrent, default: TorrentRow(id: t.torrent)].balance = t.balance
            rows[t.torrent, default: TorrentRow(id: t.torrent)].touched = true
        }
        for (id, c) in counts {
            rows[id, default: TorrentRow(id: id)].seeders = max(0, c.seeders)
            rows[id, default: TorrentRow(id: id)].leechers = max(0, c.leechers)
        }
        return rows.values.sorted { $0.id < $1.id }
    }

    /// Whether it holds entries (not only recounted counts).
    public var hasEntries: Bool { !(history.isEmpty && peers.isEmpty && torrents.isEmpty && users.isEmpty) }
}

extension Ledger {
    /// Takes every pending update out (the ledger is left empty).
    public mutating func takeAll(sequence: UInt64) -> FlushBatch {
        let skipped = skippedPeerRows
        defer {
            self = Ledger()
            skippedPeerRows = skipped
        }
        return FlushBatch(
            history: history.pending.map(\.1), peers: peers.pending.map(\.1), torrents: torrents.pending.map(\.1),
            users: users.pending.map(\.1), sequence: sequence)
    }

    /// Puts a batch that failed back, each update merged with any newer one of its key.
    public mutating func putBack(_ b: FlushBatch) {
        history.putBack(b.history.map { (UserTorrent(user: $0.user, torrent: $0.torrent), $0) })
        peers.putBack(b.peers.map { (PeerKey(user: $0.user, torrent: $0.torrent, peerID: $0.peerID), $0) })
        torrents.putBack(b.torrents.map { ($0.torrent, $0) })
        users.putBack(b.users.map { ($0.user, $0) })
    }
}
