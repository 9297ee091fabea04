import TrackerCore

/// A run of journalled entries folded into what they amount to: the ledger they fill and the
/// baseline each of their peers is left with. The journal's compaction writes one in place of
/// the segments it folds (during a long outage of the sink, so that the journal grows with the
/// pending keys, not with the announces), and the replay reads it back. Replaying a fold and
/// then the entries after it gives the ledger and the baselines that replaying every entry
/// would: the ledger's merges and the baselines' restore are left folds, and a fold is the
/// left fold of a prefix.
public struct JournalFold: Sendable {
    public private(set) var ledger = Ledger()
    /// Each peer's baseline as the entries' restores in order would leave it (the newest by
    /// time, ties to the later; the completion kept), in the order the peers first came.
    public private(set) var baselines: [RestoredBaseline] = []
    private var baselineAt: [PeerKey: Int] = [:]
    /// The sequences folded (nil: none), and the time of the oldest entry.
    public private(set) var first: UInt64?
    public private(set) var last: UInt64?
    public private(set) var oldest: UInt32?
    let maxPeerRows: Int

    public init(maxPeerRows: Int = .max) { self.maxPeerRows = maxPeerRows }

    /// Folds in the entry numbered `sequence` (after every one folded so far).
    public mutating func add(_ e: AccountEntry, sequence: UInt64) {
        ledger.add(e, maxPeerRows: maxPeerRows)
        restore(RestoredBaseline(e))
        covers(sequence, sequence, oldest: e.at)
    }

    private mutating func covers(_ lo: UInt64, _ hi: UInt64, oldest t: UInt32?) {
        first = min(first ?? lo, lo)
        last = max(last ?? hi, hi)
        if let t { oldest = min(oldest ?? t, t) }
    }

    private mutating func restore(_ b: RestoredBaseline) {
        let key = PeerKey(user: b.key.user, torrent: b.key.torrent, peerID: b.peerID)
        guard let i = baselineAt[key] else {
            baselineAt[key] = baselines.count
            baselines.append(b)
            return
        }
        let completed = baselines[i].completed || b.completed
        if b.baseline.at >= baselines[i].baseline.at { baselines[i] = b }
        baselines[i].completed = completed
    }

    // MARK: The compact file

    enum Kind: UInt8 {
        case history = 2, peer, torrent, user, baseline, end
    }

    /// The fold as a file: one framed record per pending row and baseline, then an end record
    /// with the sequences covered and the number of records before it.
    public func encode() -> [UInt8] {
        var out: [UInt8] = []
        var count: UInt64 = 0
        func record(_ kind: Kind, _ body: (inout [UInt8]) -> Void) {
            JournalRecord.frame(into: &out) { p in
                p.append(kind.rawValue)
                body(&p)
            }
            count += 1
        }
        for h in ledger.history.pending.map(\.1) {
            record(.history) { p in
                p.put(h.user)
                p.put(h.torrent)
                p.putShort(Array(h.agent.utf8))
                for v in [h.uploaded, h.actualUploaded, h.clientUploaded, h.downloaded, h.actualDownloaded, h.clientDownloaded] { p.put(v) }
                p.putFlags(h.seeder, h.active, h.immune, h.completedAt != nil)
                for v in [h.createdAt, h.updatedAt, h.completedAt ?? 0] { p.put(v) }
            }
        }
        for r in ledger.peers.pending.map(\.1) {
            record(.peer) { p in
                p.put(r.user)
                p.put(r.torrent)
                p += r.peerID.raw.bytes
                p.putShort(r.ip)
                p.put(r.port)
                p.putShort(Array(r.agent.utf8))
                for v in [r.uploaded, r.downloaded, r.left] { p.put(v) }
                p.putFlags(r.active, r.visible)
                p.put(r.createdAt)
                p.put(r.updatedAt)
            }
        }
        for t in ledger.torrents.pending.map(\.1) {
            record(.torrent) { p in
                p.put(t.torrent)
                for v in [t.seeders, t.leechers, t.timesCompleted, t.balance] { p.put(v) }
            }
        }
        for u in ledger.users.pending.map(\.1) {
            record(.user) { p in
                p.put(u.user)
                p.put(u.uploaded)
                p.put(u.downloaded)
            }
        }
        for b in baselines {
            record(.baseline) { p in
                p.put(b.key.user)
                p.put(b.key.torrent)
                p += b.peerID.raw.bytes
                p.put(b.baseline.uploaded)
                p.put(b.baseline.downloaded)
                p.put(b.baseline.at)
                p.putFlags(b.baseline.seeder, b.baseline.active, b.completed)
            }
        }
        let n = count
        record(.end) { p in
            p.putFlags(first != nil, oldest != nil)
            p.put(first ?? 0)
            p.put(last ?? 0)
            p.put(oldest ?? 0)
            p.put(n)
        }
        return out
    }

    /// A compact file read back; nil unless every record up to its end record is whole.
    public static func decode(_ bytes: [UInt8], maxPeerRows: Int = .max) -> JournalFold? {
        var fold = JournalFold(maxPeerRows: maxPeerRows)
        var count: UInt64 = 0
        var ended = false
        let used = JournalRecord.frames(bytes) { payload in
            guard !ended, fold.read(payload, count: &count, ended: &ended) else { return false }
            return true
        }
        return ended && used == bytes.count ? fold : nil
    }

    private mutating func read(_ payload: ArraySlice<UInt8>, count: inout UInt64, ended: inout Bool) -> Bool {
        var r = ByteReader(payload)
        guard let kind = r.byte().flatMap(Kind.init(rawValue:)) else { return false }
        switch kind {
        case .history:
            guard let user = r.int(UInt32.self), let torrent = r.int(UInt32.self), let agent = r.short() else { return false }
            var v: [UInt64] = []
            for _ in 0..<6 { guard let x = r.int(UInt64.self) else { return false }; v.append(x) }
            guard let f = r.flags(4), let created = r.int(UInt32.self), let updated = r.int(UInt32.self),
                let completed = r.int(UInt32.self), r.atEnd
            else { return false }
            var h = HistoryUpdate(
                AccountEntry(user: user, torrent: torrent, peerID: PeerID(Bytes20(w0: 0, w1: 0, w2: 0, w3: 0, w4: 0)), at: created))
            h.agent = String(decoding: agent, as: UTF8.self)
            (h.uploaded, h.actualUploaded, h.clientUploaded, h.downloaded, h.actualDownloaded, h.clientDownloaded) =
                (v[0], v[1], v[2], v[3], v[4], v[5])
            (h.seeder, h.active, h.immune) = (f[0], f[1], f[2])
            (h.createdAt, h.updatedAt, h.completedAt) = (created, updated, f[3] ? completed : nil)
            ledger.history.add(UserTorrent(user: user, torrent: torrent), h)
        case .peer:
            guard let user = r.int(UInt32.self), let torrent = r.int(UInt32.self), let peerID = r.peerID(), let ip = r.short(),
                ip.count == 4 || ip.count == 16, let port = r.int(UInt16.self), let agent = r.short(), let up = r.int(UInt64.self),
                let down = r.int(UInt64.self), let left = r.int(UInt64.self), let f = r.flags(2), let created = r.int(UInt32.self),
                let updated = r.int(UInt32.self), r.atEnd
            else { return false }
            var p = PeerUpdate(AccountEntry(user: user, torrent: torrent, peerID: peerID, at: updated, ip: ip, port: port))
            (p.agent, p.uploaded, p.downloaded, p.left) = (String(decoding: agent, as: UTF8.self), up, down, left)
            (p.active, p.visible, p.createdAt) = (f[0], f[1], created)
            ledger.peers.add(PeerKey(user: user, torrent: torrent, peerID: peerID), p)
        case .torrent:
            guard let id = r.int(UInt32.self), let s = r.int(Int64.self), let l = r.int(Int64.self), let c = r.int(Int64.self),
                let b = r.int(Int64.self), r.atEnd
            else { return false }
            var t = TorrentUpdate(torrent: id)
            (t.seeders, t.leechers, t.timesCompleted, t.balance) = (s, l, c, b)
            ledger.torrents.add(id, t)
        case .user:
            guard let id = r.int(UInt32.self), let up = r.int(UInt64.self), let down = r.int(UInt64.self), r.atEnd else { return false }
            ledger.users.add(id, UserUpdate(user: id, uploaded: up, downloaded: down))
        case .baseline:
            guard let user = r.int(UInt32.self), let torrent = r.int(UInt32.self), let peerID = r.peerID(), let up = r.int(UInt64.self),
                let down = r.int(UInt64.self), let at = r.int(UInt32.self), let f = r.flags(3), r.atEnd
            else { return false }
            restore(
                RestoredBaseline(
                    key: UserTorrent(user: user, torrent: torrent), peerID: peerID,
                    baseline: PeerBaseline(uploaded: up, downloaded: down, at: at, seeder: f[0], active: f[1]), completed: f[2]))
        case .end:
            guard let f = r.flags(2), let lo = r.int(UInt64.self), let hi = r.int(UInt64.self), let t = r.int(UInt32.self),
                let n = r.int(UInt64.self), r.atEnd, n == count
            else { return false }
            if f[0] { covers(lo, hi, oldest: f[1] ? t : nil) }
            ended = true
            return true
        }
        count += 1
        return true
    }
}
