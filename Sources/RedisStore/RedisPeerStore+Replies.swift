import TrackerCore

/// Gathering the announce script's reply: counts, the sample and Squall's own reads of it.
extension RedisPeerStore {
    /// The `GETRANGE`s that read a sample for `a` from a swarm of these counts (the second read
    /// when the counts the script was given were too old).
    static func reads(
        for a: PeerAnnounce, seeders: Int, leechers: Int, keys: [[UInt8]], hints: SampleHints, size: Int
    ) -> [RedisArguments] {
        hints.ranges(seeders: seeders, leechers: leechers, role: a.role, numwant: a.numwant).map { r in
            var read = RedisArguments()
            read.append("GETRANGE")
            read.append(r.seeders ? keys[1] : keys[2])
            let bytes = RedisRecord.byteRange(first: r.first, count: r.count, size: size)
            read.append(decimal: bytes.from)
            read.append(decimal: bytes.through)
            return read
        }
    }

    /// How many peers a full sample holds: `numwant`, or every other candidate if fewer.
    static func expectedSample(_ r: SwarmReply, for a: PeerAnnounce) -> Int {
        let others =
            switch a.role {
            case .leecher: r.complete + r.incomplete - 1
            case .partialSeed: r.incomplete - 1
            case .seeder: r.incomplete
            }
        return min(a.numwant, max(0, others))
    }

    /// The most seeders or leechers a reply may report: far above any swarm, far below what
    /// would overflow slot offsets (`RedisRecord.size(users:)` bytes a slot).
    static let maxCount = 1 << 32

    /// The script's reply, plus the records of the `GETRANGE`s sent behind it when Squall sampled.
    static func announceReply(
        _ result: Result<RedisValue, RedisError>, for a: PeerAnnounce, squallSampled: Bool, now: Int, cutoff: Int,
        limits: (perTorrent: Int, torrents: Int, peers: Int), hints: SampleHints, size: Int
    ) -> Result<SwarmReply, StoreError> {
        storeResult(result).flatMap { reply in
            guard let parts = reply.array else { return .failure(.unavailable("redis: unexpected reply \(reply)")) }
            // The same failure reasons as the memory store's.
            switch parts.first {
            case .string(Array("full".utf8)): return .failure(.full("torrent is full (at most \(limits.perTorrent) peers)"))
            case .string(Array("full_torrents".utf8)): return .failure(.full("tracker is full (at most \(limits.torrents) torrents)"))
            case .string(Array("full_peers".utf8)): return .failure(.full("tracker is full (at most \(limits.peers) peers)"))
            case .string(Array("quota".utf8)): return .failure(.tooManyPeersFromSource(max: a.quota.peersPerTorrent))
            case .string(Array("no_new_torrent".utf8)): return .failure(.tooManyNewTorrents)
            case .string(Array("no_new_peer".utf8)): return .failure(.noNewPeer)
            case .string(Array("user_quota".utf8)): return .failure(.tooManyPeersForUser(max: a.quota.peersPerUser))
            default: break
            }
            guard parts.count >= 6, let s = parts[0].integer, let l = parts[1].integer, let d = parts[2].integer, var blob = parts[3].bytes,
                let status = parts[4].integer.map(RedisAnnounceStatus.init(rawValue:)), let prev = parts[5].bytes
            else { return .failure(.unavailable("redis: unexpected reply \(reply)")) }
            // Range-checked: the next sample's slots are computed from these counts, and counts
            // no swarm can have (edited or corrupted keys) must not overflow that arithmetic.
            guard (0...maxCount).contains(s), (0...maxCount).contains(l), (0...Int(Int32.max) * 1024).contains(d) else {
                return .failure(.unavailable("redis: counts out of range (seeders \(s), leechers \(l), downloaded \(d))"))
            }
            for case .string(let run) in parts.dropFirst(6) { blob += run }
            let records =
                squallSampled
                ? cut(RedisRecord.records(in: blob, size: size, cutoff: cutoff), for: a, limit: a.numwant, hints: hints)
                : RedisRecord.records(in: blob, size: size, cutoff: cutoff)
            let sample = RedisRecord.seedersFirst(records)
            return .success(
                SwarmReply(
                    complete: s, incomplete: l, downloaded: d, peers: sample.peers, recorded: !status.contains(.notOwned),
                    createdTorrent: status.contains(.createdTorrent),
                    past: RedisRecord.past(prev, size: size, family: a.endpoint.address, now: now, cutoff: cutoff),
                    seedersSampled: sample.seeders))
        }
    }

    /// The records read by `GETRANGE`s sent apart from the script; see `cut`. They are read after
    /// the counts the reply carries, and peers that joined since can take slots in the ranges
    /// read (moving the announcer's own record out of them), so the sample is cut to `limit`,
    /// what those counts allow: a reply never lists more peers than it counts.
    static func sampledPeers(
        _ replies: ArraySlice<Result<RedisValue, RedisError>>, for a: PeerAnnounce, limit: Int, cutoff: Int, hints: SampleHints,
        size: Int
    ) -> Result<(peers: [SwarmPeer], seeders: Int), StoreError> {
        var blob: [UInt8] = []
        blob.reserveCapacity(size * (a.numwant + 1))
        for r in replies {
            switch storeResult(r) {
            case .success(let value):
                if case .string(let records) = value { blob += RedisRecord.whole(records, size: size) }
            case .failure(let e): return .failure(e)
            }
        }
        var records = RedisRecord.records(in: blob, size: size, cutoff: cutoff)
        // Another announce may move a record between two separate reads.
        var seen = Set<RedisRecord.Identity>()
        records.removeAll { !seen.insert($0.identity).inserted }
        return .success(RedisRecord.seedersFirst(cut(records, for: a, limit: limit, hints: hints)))
    }

    /// A sample Squall's runs read (slots past the end read as zeros or nothing, already
    /// skipped): without the announcing peer, cut to `limit` (at most numwant) at random, since
    /// the runs come in slot order and cutting the end would favour the first slots.
    static func cut(_ sample: [RedisRecord], for a: PeerAnnounce, limit: Int, hints: SampleHints) -> [RedisRecord] {
        var peers = sample
        peers.removeAll { $0.peer.peerID == a.peerID && $0.user == a.user }
        while peers.count > limit { peers.remove(at: hints.index(below: peers.count)) }
        return peers
    }
}

/// Collects the replies of commands sent together and calls `done` once all have arrived, in
/// whatever order and on whatever loop (a cluster's servers answer on their own links).
final class ReplyGather: Sendable {
    private struct State {
        var replies: [Result<RedisValue, RedisError>?]
        var missing: Int
    }
    private let state: Locked<State>
    private let done: @Sendable ([Result<RedisValue, RedisError>]) -> Void

    init(count: Int, done: @escaping @Sendable ([Result<RedisValue, RedisError>]) -> Void) {
        state = Locked(State(replies: Array(repeating: nil, count: count), missing: count))
        self.done = done
    }

    func set(_ i: Int, _ r: Result<RedisValue, RedisError>) {
        let complete: [Result<RedisValue, RedisError>]? = state.withLock { s in
            guard s.replies[i] == nil else { return nil }
            s.replies[i] = r
            s.missing -= 1
            return s.missing == 0 ? s.replies.map { $0! } : nil
        }
        if let complete { done(complete) }
    }
}
