import Logging
public import TrackerCore

/// The bulk verbs: async, on any thread, cancelled between their steps (see `PeerStore`).
extension RedisPeerStore {
    /// The sum of every bucket's totals (one HMGET each, all sent at once).
    public func totals() async throws(StoreError) -> SwarmTotals {
        try StoreError.checkCancellation()
        return try await awaitCallback { totals(completion: $0) }
    }

    func totals(completion: @escaping @Sendable (Result<SwarmTotals, StoreError>) -> Void) {
        let gather = ReplyGather(count: keys.buckets) { replies in
            var sum = SwarmTotals()
            for r in replies {
                switch Self.storeResult(r) {
                case .success(let reply):
                    let n = (reply.array ?? []).map { $0.bytes.flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0 }
                    guard n.count == 5 else { return completion(.failure(.unavailable("redis: unexpected reply \(reply)"))) }
                    sum.torrents += n[0]
                    sum.peers += n[1]
                    sum.seeders += n[2]
                    sum.ipv4Endpoints += n[3]
                    sum.ipv6Endpoints += n[4]
                case .failure(let e): return completion(.failure(e))
                }
            }
            sum.leechers = sum.peers - sum.seeders
            completion(.success(sum))
        }
        for b in 0..<keys.buckets {
            client.command(
                [Array("HMGET".utf8), keys.totals(b), Array("t".utf8), Array("p".utf8), Array("s".utf8), Array("4".utf8), Array("6".utf8)],
                slot: keys.slot(b)
            ) {
                gather.set(b, $0)
            }
        }
    }

    /// Every torrent's row, 500 torrents a script call, bucket by bucket. Counts of IPv4 and
    /// IPv6 peers include endpoints past their time until the next sweep of their torrent.
    public func torrentRows() async throws(StoreError) -> [TorrentRow] {
        let chunk = 500
        let now = Int(clock.now())
        var rows: [TorrentRow] = []
        for b in 0..<keys.buckets {
            let around = keys.metaAround(bucket: b)
            var first = 0
            while true {
                try StoreError.checkCancellation()
                let reply = try Self.storeResult(
                    await client.eval(
                        scripts.torrentRows, slot: keys.slot(b), keys: [keys.index(b)],
                        arguments: [Self.decimal(first), Self.decimal(chunk), around.before, around.after])
                ).get()
                let v = reply.array ?? []
                for o in stride(from: 0, to: v.count - 6, by: 7) {
                    guard let hex = v[o].bytes, let raw = Bytes20(hex: String(decoding: hex, as: UTF8.self)) else { continue }
                    let n = (1...6).map { v[o + $0].integer ?? 0 }
                    guard n[0] + n[1] > 0 else { continue }
                    rows.append(
                        TorrentRow(
                            infoHash: InfoHash(raw), seeders: n[0], leechers: n[1], completed: n[2], ipv4: n[3], ipv6: n[4],
                            idle: UInt32(clamping: max(0, now - n[5]))))
                }
                if v.count < 7 * chunk { break }
                first += chunk
            }
        }
        return rows
    }

    public func peerRows(of hash: InfoHash, limit: Int) async throws(StoreError) -> [PeerRow]? {
        try StoreError.checkCancellation()
        return try await awaitCallback { peerRows(of: hash, limit: limit, completion: $0) }
    }

    func peerRows(of hash: InfoHash, limit: Int, completion: @escaping @Sendable (Result<[PeerRow]?, StoreError>) -> Void) {
        let now = Int(clock.now())
        let cutoff = now - ttl
        let size = scripts.recordSize
        client.eval(
            scripts.peerRows, slot: keys.slot(keys.bucket(hash)), keys: keys.records(hash),
            arguments: [Self.decimal(limit)]
        ) { result in
            completion(
                Self.storeResult(result).map { reply in
                    let parts = reply.array ?? []
                    var rows: [PeerRow] = []
                    for (i, part) in parts.prefix(2).enumerated() {
                        for case .string(let record) in part.array ?? [] where record.count == size {
                            RedisRecord.forEach(in: record, size: size, cutoff: cutoff) { r in
                                let role: PeerRole = i == 0 ? .seeder : r.flags.contains(.partialSeed) ? .partialSeed : .leecher
                                rows.append(
                                    PeerRow(
                                        peerID: r.peer.peerID, role: role, v4: r.peer.v4, v6: r.peer.v6,
                                        idle: UInt32(clamping: max(0, now - r.lastAnnounce)), user: r.user,
                                        completed: r.flags.contains(.downloadCounted)))
                            }
                        }
                    }
                    return rows.isEmpty ? nil : rows
                })
        }
    }

    /// Up when Redis (every master of a cluster) answers PING within the timeout.
    public func health() async -> Bool {
        let masters = client.masters
        let up: Result<Bool, StoreError> = await withCheckedContinuation { continuation in
            let gather = ReplyGather(count: masters.count) { replies in
                continuation.resume(returning: .success(replies.allSatisfy { (try? $0.get()) == .status("PONG") }))
            }
            for (i, m) in masters.enumerated() { client.command([Array("PING".utf8)], server: m) { gather.set(i, $0) } }
        }
        return (try? up.get()) ?? false
    }

    /// Sweeps, 100 at a time, every torrent whose oldest endpoint may have expired.
    /// The caller's task may be cancelled between torrents (graceful shutdown does not wait for
    /// a long pass): what was swept stays swept, the rest is due again next pass.
    @discardableResult
    public func expire() async throws(StoreError) -> Int {
        let cutoff = Self.decimal(Int(clock.now()) - ttl)
        var removed = 0
        for b in 0..<keys.buckets {
            while true {
                try StoreError.checkCancellation()
                let due = try Self.storeResult(
                    await client.command(
                        [
                            Array("ZRANGEBYSCORE".utf8), keys.index(b), Array("-inf".utf8), cutoff, Array("LIMIT".utf8),
                            Array("0".utf8), Array("100".utf8),
                        ], slot: keys.slot(b))
                ).get()
                let members = (due.array ?? []).compactMap(\.bytes)
                if members.isEmpty { break }
                for hex in members {
                    try StoreError.checkCancellation()
                    guard hex.count == 40, let raw = Bytes20(hex: String(decoding: hex, as: UTF8.self)) else {
                        // Not a torrent of Squall's: it would be found due again forever.
                        _ = try Self.storeResult(
                            await client.command([Array("ZREM".utf8), keys.index(b), hex], slot: keys.slot(b))
                        ).get()
                        logger.warning(
                            "removed a malformed entry from the torrent index", metadata: ["entry": "\(Self.printable(hex))"])
                        continue
                    }
                    removed += try await sweep(InfoHash(raw), hex: hex, bucket: b, cutoff: cutoff)
                }
            }
        }
        return removed
    }

    /// Endpoints one reaper call may look at: a call stays well under 5 ms of Redis time even
    /// when every one of them is removed (measured: 128 removals take about 3.3 ms), so
    /// announces queued behind it wait no longer than for a few of their own.
    static let sweepChunk = 64

    /// Sweeps one due torrent in bounded calls; logs once if its keys needed repair.
    func sweep(_ hash: InfoHash, hex: [UInt8], bucket b: Int, cutoff: [UInt8]) async throws(StoreError) -> Int {
        func finish(_ removed: Int, _ repaired: Int) -> Int {
            if repaired > 0 {
                logger.warning(
                    "repaired a torrent's keys in Redis (records Squall did not write, or counts its strings cannot hold)",
                    metadata: ["info_hash": "\(hash)", "entries": "\(repaired)"])
            }
            return removed
        }
        var (removed, repaired) = (0, 0)
        let now = Self.decimal(Int(clock.now()))
        // A torrent holds at most max_peers_per_torrent peers, so this many calls always suffice.
        for _ in 0..<(2 * maxPeersPerTorrent / Self.sweepChunk + 16) {
            let r = try Self.storeResult(
                await client.eval(
                    scripts.sweepTorrent, slot: keys.slot(b), keys: keys.torrent(hash),
                    arguments: [cutoff, hex, Self.decimal(Self.sweepChunk), now, Self.decimal(ttl), Self.decimal(keys.sourceCells)])
            ).get()
            guard let parts = r.array, parts.count == 3, let more = parts[1].integer else {
                throw StoreError.unavailable("redis: unexpected reply to the sweep")
            }
            removed += max(0, parts[0].integer ?? 0)
            repaired += max(0, parts[2].integer ?? 0)
            if more == 0 { return finish(removed, repaired) }
        }
        // Still not done after more calls than its peers need: leave it until the next pass
        // rather than find it due again forever.
        _ = try Self.storeResult(
            await client.command(
                [Array("ZADD".utf8), keys.index(b), Array("XX".utf8), Self.decimal(Int(clock.now())), hex], slot: keys.slot(b))
        ).get()
        logger.warning("a torrent's sweep did not finish; it is retried next pass", metadata: ["info_hash": "\(hash)"])
        return finish(removed, repaired)
    }
}
