public import Logging
public import NIOCore
public import NIOPosix
public import TrackerCore

/// Swarms in Redis: they survive a restart of Squall and are shared by every Squall that uses
/// the same Redis and prefix. An announce is one round trip (a Lua script, `EVALSHA`) whose
/// work depends on `numwant`, not on swarm size; a scrape of many hashes is one round trip too.
///
/// hiredis formats the commands and parses the replies, but the sockets are SwiftNIO channels:
/// each event loop pipelines its announces on its own connection and never blocks (see
/// `RedisClient`). When Redis is down, verbs fail with `StoreError.unavailable` within the
/// command timeout, and the connections come back by themselves.
public final class RedisStore: PeerStore, Sendable {
    /// `redis`, or `redis-cluster`.
    public let kind: String
    /// Commands complete on the links' event loops.
    public var completesInline: Bool { false }
    /// Commands sent from threads that are not the group's loops (see `RedisClient`).
    var commandsSentOffLoop: Int { client.sentFromOffLoop }
    private let client: RedisClient
    private let keys: RedisKeys
    private let clock: any TrackerClock
    private let ttl: Int
    private let maxPeersPerTorrent: Int
    /// Torrents and peers the tracker holds in all (`memory.max_torrents`, `memory.max_peers`),
    /// and what each totals hash holds: all of it on a single Redis, a bucket's share (rounded
    /// up) on a cluster, where each of the 256 buckets keeps its own totals.
    private let maxTorrents: Int, maxPeers: Int
    private let shares: (torrents: Int, peers: Int)
    private let logger: Logger

    public convenience init(
        endpoint: RedisEndpoint, prefix: String = "squall:", connections: Int = 1, timeout: Duration = .seconds(1),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, clock: any TrackerClock = UnixTrackerClock(), peerTTL: Int,
        maxPeersPerTorrent: Int = 100_000
    ) {
        self.init(
            options: RedisOptions(endpoint: endpoint, prefix: prefix, connections: connections, timeout: timeout), group: group,
            clock: clock, peerTTL: peerTTL, maxPeersPerTorrent: maxPeersPerTorrent)
    }

    /// `group` should be the server's: announces then reach Redis without leaving their loop.
    /// `clock` must be shared by every Squall on this Redis (Unix time by default).
    public init(
        options: RedisOptions, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        clock: any TrackerClock = UnixTrackerClock(), peerTTL: Int, maxPeersPerTorrent: Int = 100_000,
        maxTorrents: Int = 1_000_000, maxPeers: Int = 10_000_000, logger: Logger = Logger(label: "squall.redis")
    ) {
        (self.maxTorrents, self.maxPeers) = (maxTorrents, maxPeers)
        self.logger = logger
        client = RedisClient(options: options, scripts: RedisScripts.all, group: group)
        let keys = RedisKeys(prefix: options.prefix, cluster: options.isCluster)
        self.keys = keys
        let share = { (cap: Int) in (cap + keys.buckets - 1) / keys.buckets }
        shares = (share(maxTorrents), share(maxPeers))
        kind = options.isCluster ? "redis-cluster" : "redis"
        self.clock = clock
        ttl = peerTTL
        self.maxPeersPerTorrent = maxPeersPerTorrent
    }

    /// Connects, authenticates, selects the database and pings, once: the startup check.
    /// Blocks the calling thread (use it before serving, never on an event loop).
    public static func check(_ options: RedisOptions) throws(RedisError) {
        if options.isCluster { return try checkCluster(options) }
        let c = try connect(options.endpoint, options)
        if options.database != 0 {
            if case .error(let message) = try c.command("SELECT", String(options.database)) {
                throw RedisError("\(options.redacted): cannot select database \(options.database): \(message)")
            }
        }
        guard try c.command("PING") == .status("PONG") else { throw RedisError("\(options.redacted): no PONG") }
        try checkLayout(c, options)
    }

    /// Refuses a Redis whose keys under the prefix are laid out for another Squall (records of
    /// another size would be misread): the layout is written the first time, and an older
    /// Squall's data, which has no layout key, is recognised by its index.
    private static func checkLayout(_ c: RedisConnection, _ options: RedisOptions) throws(RedisError) {
        let keys = RedisKeys(prefix: options.prefix)
        let layout = Array(RedisKeys.layout.utf8)
        let advice =
            "delete the keys under the prefix (redis-cli --scan --pattern '\(options.prefix)*' | xargs redis-cli del) or set redis.prefix to a new one"
        if try c.command([Array("SET".utf8), keys.layoutKey, layout, Array("NX".utf8)]) == .status("OK") {
            guard try c.command([Array("EXISTS".utf8), keys.index(0)]) == .integer(0) else {
                _ = try c.command([Array("DEL".utf8), keys.layoutKey])
                throw RedisError("\(options.redacted): the keys under \(options.prefix) hold an older Squall's swarms; \(advice)")
            }
            return
        }
        let held = try c.command([Array("GET".utf8), keys.layoutKey])
        guard held == .string(layout) else {
            let shown = held.bytes.map { String(decoding: $0.prefix(16), as: UTF8.self) } ?? "?"
            throw RedisError(
                "\(options.redacted): the keys under \(options.prefix) are in layout \(shown), not \(RedisKeys.layout); \(advice)")
        }
    }

    /// A cluster: the first seed that answers must report `cluster_state:ok`.
    private static func checkCluster(_ options: RedisOptions) throws(RedisError) {
        var last = RedisError("\(options.redacted): no seed")
        for seed in options.clusterSeeds {
            do throws(RedisError) {
                let c = try connect(seed, options)
                guard case .string(let info) = try c.command("CLUSTER", "INFO") else {
                    throw RedisError("\(options.redacted): \(seed) is not a Redis Cluster node")
                }
                let text = String(decoding: info, as: UTF8.self)
                guard text.contains("cluster_state:ok") else { throw RedisError("\(options.redacted): the cluster's state is not ok") }
                return
            } catch {
                last = error
            }
        }
        throw last
    }

    /// A blocking connection, authenticated.
    private static func connect(_ endpoint: RedisEndpoint, _ options: RedisOptions) throws(RedisError) -> RedisConnection {
        let c = try RedisConnection(endpoint, timeout: options.connectTimeout)
        if let password = options.password {
            let auth = try c.command([Array("AUTH".utf8)] + (options.username.map { [Array($0.utf8)] } ?? []) + [Array(password.utf8)])
            if case .error(let message) = auth { throw RedisError("\(options.redacted): authentication failed: \(message)") }
        }
        return c
    }

    /// Closes the connections to Redis (they reopen on the next verb).
    public func close() { client.close() }

    public func announce(_ a: PeerAnnounce, completion: @escaping @Sendable (Result<SwarmReply, StoreError>) -> Void) {
        let port = [UInt8(a.endpoint.port >> 8), UInt8(a.endpoint.port & 0xff)]
        let (family, endpoint): ([UInt8], [UInt8]) =
            switch a.endpoint.address {
            case .v4(let v4): ([0x34], v4.bytes + port)
            case .v6(let v6): ([0x36], v6.bytes + port)
            }
        let now = clock.now()
        let keys = keys.torrent(a.infoHash)
        var tail = RedisArguments()
        tail.append(decimal: keys.count)
        for k in keys { tail.append(k) }
        for arg in [
            a.peerID.raw.bytes, family, endpoint, [0x30 + a.role.rawValue], [a.countsDownload ? 0x31 : 0x30], [a.remove ? 0x31 : 0x30],
        ] { tail.append(arg) }
        tail.append(decimal: a.numwant)
        tail.append(decimal: Int(now))
        tail.append(bigEndian: now)
        tail.append(decimal: ttl)
        tail.append(decimal: maxPeersPerTorrent)
        tail.append(a.infoHash.raw.hex)
        let cutoff = Int(now) - ttl
        let limits = (perTorrent: maxPeersPerTorrent, torrents: maxTorrents, peers: maxPeers)
        let shares = shares
        let arguments = tail
        let cells = self.keys.sourceCells
        client.withLink(slot: self.keys.slot(self.keys.bucket(a.infoHash))) { link in
            let hints = link.hints
            let client = self.client
            let known = a.remove ? nil : hints.counts(a.infoHash)
            var script = arguments
            script.append(decimal: hints.seed())
            script.append([known == nil ? 0x31 : 0x30])
            script.append(decimal: shares.torrents)
            script.append(decimal: shares.peers)
            script.append(bigEndian: a.key.value)
            script.append(decimal: a.quota.peersPerTorrent)
            script.append([a.quota.mayCreateTorrent ? 0x31 : 0x30])
            script.append(decimal: cells)
            if let known {
                for r in hints.ranges(seeders: known.seeders, leechers: known.leechers, role: a.role, numwant: a.numwant) {
                    script.append([r.seeders ? 0x73 : 0x6C])
                    script.append(decimal: r.first * RedisRecord.size)
                    script.append(decimal: (r.first + r.count) * RedisRecord.size - 1)
                }
            }
            client.send(on: link, { $0.eval(RedisScripts.announce, tail: script, $1) }) { reply in
                let result = Self.announceReply(
                    reply, for: a, squallSampled: known != nil, cutoff: cutoff, limits: limits, hints: hints)
                guard case .success(let reply) = result, reply.complete + reply.incomplete > 0 else {
                    hints.forget(a.infoHash)
                    return completion(result)
                }
                hints.record(a.infoHash, seeders: reply.complete, leechers: reply.incomplete)
                // Counts from another loop's or another Squall's announces made the picks miss:
                // read a new sample with the counts just returned (a second round trip, rare).
                let again =
                    known != nil && reply.peers.count < Self.expectedSample(reply, for: a)
                    ? Self.reads(for: a, seeders: reply.complete, leechers: reply.incomplete, keys: keys, hints: hints) : []
                guard !again.isEmpty else { return completion(result) }
                let retry = ReplyGather(count: again.count) { replies in
                    completion(
                        Self.sampledPeers(
                            replies[...], for: a, limit: Self.expectedSample(reply, for: a), cutoff: cutoff, hints: hints
                        ).map { peers in
                            var fresh = reply
                            fresh.peers = peers
                            return fresh
                        })
                }
                for (i, read) in again.enumerated() { client.send(on: link, { $0.command(read, $1) }) { retry.set(i, $0) } }
            }
        }
    }

    /// The `GETRANGE`s that read a sample for `a` from a swarm of these counts (the second read
    /// when the counts the script was given were too old).
    private static func reads(for a: PeerAnnounce, seeders: Int, leechers: Int, keys: [[UInt8]], hints: SampleHints) -> [RedisArguments] {
        hints.ranges(seeders: seeders, leechers: leechers, role: a.role, numwant: a.numwant).map { r in
            var read = RedisArguments()
            read.append("GETRANGE")
            read.append(r.seeders ? keys[1] : keys[2])
            read.append(decimal: r.first * RedisRecord.size)
            read.append(decimal: (r.first + r.count) * RedisRecord.size - 1)
            return read
        }
    }

    /// How many peers a full sample holds: `numwant`, or every other candidate if fewer.
    private static func expectedSample(_ r: SwarmReply, for a: PeerAnnounce) -> Int {
        let others =
            switch a.role {
            case .leecher: r.complete + r.incomplete - 1
            case .partialSeed: r.incomplete - 1
            case .seeder: r.incomplete
            }
        return min(a.numwant, max(0, others))
    }

    /// The most seeders or leechers a reply may report: far above any swarm, far below what
    /// would overflow slot offsets (`RedisRecord.size` bytes a slot).
    static let maxCount = 1 << 32

    /// The script's reply, plus the records of the `GETRANGE`s sent behind it when Squall sampled.
    private static func announceReply(
        _ result: Result<RedisValue, RedisError>, for a: PeerAnnounce, squallSampled: Bool, cutoff: Int,
        limits: (perTorrent: Int, torrents: Int, peers: Int), hints: SampleHints
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
            default: break
            }
            guard parts.count >= 5, let s = parts[0].integer, let l = parts[1].integer, let d = parts[2].integer, var blob = parts[3].bytes,
                let status = parts[4].integer
            else { return .failure(.unavailable("redis: unexpected reply \(reply)")) }
            // Range-checked: the next sample's slots are computed from these counts, and counts
            // no swarm can have (edited or corrupted keys) must not overflow that arithmetic.
            guard (0...maxCount).contains(s), (0...maxCount).contains(l), (0...Int(Int32.max) * 1024).contains(d) else {
                return .failure(.unavailable("redis: counts out of range (seeders \(s), leechers \(l), downloaded \(d))"))
            }
            for case .string(let run) in parts.dropFirst(5) { blob += run }
            let peers =
                squallSampled
                ? cut(decodePeers(blob, cutoff: cutoff), for: a, limit: a.numwant, hints: hints) : decodePeers(blob, cutoff: cutoff)
            return .success(
                SwarmReply(
                    complete: s, incomplete: l, downloaded: d, peers: peers, recorded: status & 1 == 0, createdTorrent: status & 2 != 0))
        }
    }

    /// The records read by `GETRANGE`s sent apart from the script; see `cut`. They are read after
    /// the counts the reply carries, and peers that joined since can take slots in the ranges
    /// read (moving the announcer's own record out of them), so the sample is cut to `limit`,
    /// what those counts allow: a reply never lists more peers than it counts.
    private static func sampledPeers(
        _ replies: ArraySlice<Result<RedisValue, RedisError>>, for a: PeerAnnounce, limit: Int, cutoff: Int, hints: SampleHints
    ) -> Result<[SwarmPeer], StoreError> {
        var blob: [UInt8] = []
        blob.reserveCapacity(RedisRecord.size * (a.numwant + 1))
        for r in replies {
            switch storeResult(r) {
            case .success(let value):
                if case .string(let records) = value { blob += records.prefix(records.count - records.count % RedisRecord.size) }
            case .failure(let e): return .failure(e)
            }
        }
        var peers = decodePeers(blob, cutoff: cutoff)
        // Another announce may move a record between two separate reads.
        var seen = Set<PeerID>()
        peers.removeAll { !seen.insert($0.peerID).inserted }
        return .success(cut(peers, for: a, limit: limit, hints: hints))
    }

    /// A sample Squall's runs read (slots past the end read as zeros or nothing, already
    /// skipped): without the announcing peer, cut to `limit` (at most numwant) at random, since
    /// the runs come in slot order and cutting the end would favour the first slots.
    private static func cut(_ sample: [SwarmPeer], for a: PeerAnnounce, limit: Int, hints: SampleHints) -> [SwarmPeer] {
        var peers = sample
        peers.removeAll { $0.peerID == a.peerID }
        while peers.count > limit { peers.remove(at: hints.index(below: peers.count)) }
        return peers
    }

    /// Records as `RedisScripts` lays them out; endpoints last announced at or before `cutoff`
    /// are dropped, and peers left with none.
    static func decodePeers(_ blob: [UInt8], cutoff: Int) -> [SwarmPeer] {
        var peers: [SwarmPeer] = []
        peers.reserveCapacity(blob.count / RedisRecord.size)
        forEachRecord(blob, cutoff: cutoff) { peer, _, _ in peers.append(peer) }
        return peers
    }

    /// Calls `body` with each record's peer (endpoints last announced at or before `cutoff`
    /// dropped; records left with none skipped), its flags and its newest live announce.
    static func forEachRecord(_ blob: [UInt8], cutoff: Int, _ body: (SwarmPeer, UInt8, Int) -> Void) {
        func u32(_ o: Int) -> Int { Int(blob[o]) << 24 | Int(blob[o + 1]) << 16 | Int(blob[o + 2]) << 8 | Int(blob[o + 3]) }
        func u16(_ o: Int) -> UInt16 { UInt16(blob[o]) << 8 | UInt16(blob[o + 1]) }
        for o in stride(from: 0, to: blob.count - (RedisRecord.size - 1), by: RedisRecord.size) {
            let flags = blob[o + 20]
            let (seen4, seen6) = (u32(o + 45), u32(o + 49))
            let v4 =
                flags & 1 != 0 && seen4 > cutoff
                ? Endpoint(address: .v4(IPv4Address(blob[o + 21], blob[o + 22], blob[o + 23], blob[o + 24])), port: u16(o + 25)) : nil
            let v6 =
                flags & 2 != 0 && seen6 > cutoff
                ? IPv6Address(Array(blob[(o + 27)..<(o + 43)])).map { Endpoint(address: .v6($0), port: u16(o + 43)) } : nil
            guard v4 != nil || v6 != nil, let id = PeerID(blob[o..<(o + 20)]) else { continue }
            body(SwarmPeer(peerID: id, v4: v4, v6: v6), flags, max(v4 == nil ? 0 : seen4, v6 == nil ? 0 : seen6))
        }
    }

    /// One script per bucket (one on a single Redis), all sent at once: one round trip.
    public func scrape(_ hashes: [InfoHash], completion: @escaping @Sendable (Result<[InfoHash: ScrapeEntry], StoreError>) -> Void) {
        guard !hashes.isEmpty else { return completion(.success([:])) }
        let groups = Array(Dictionary(grouping: hashes, by: keys.bucket))
        let gather = ReplyGather(count: groups.count) { replies in
            var out: [InfoHash: ScrapeEntry] = [:]
            for ((_, group), result) in zip(groups, replies) {
                switch Self.storeResult(result) {
                case .success(let reply):
                    let n = (reply.array ?? []).map { $0.integer ?? 0 }
                    guard n.count == group.count * 4 else { return completion(.failure(.unavailable("redis: unexpected reply \(reply)"))) }
                    for (i, h) in group.enumerated() where n[4 * i] + n[4 * i + 1] > 0 {
                        // Clamped: counts edited in Redis must not make a negative or absurd entry.
                        let c = { (v: Int) in min(max(v, 0), Self.maxCount) }
                        let (s, l, d, p) = (c(n[4 * i]), c(n[4 * i + 1]), c(n[4 * i + 2]), c(n[4 * i + 3]))
                        out[h] = ScrapeEntry(complete: s, incomplete: l, downloaded: d, downloaders: max(0, l - p))
                    }
                case .failure(let e): return completion(.failure(e))
                }
            }
            completion(.success(out))
        }
        for (i, (bucket, group)) in groups.enumerated() {
            client.eval(RedisScripts.scrape, slot: keys.slot(bucket), keys: group.map(keys.meta), arguments: []) { gather.set(i, $0) }
        }
    }

    public func scrapeAll(limit: Int, completion: @escaping @Sendable (Result<[InfoHash: ScrapeEntry], StoreError>) -> Void) {
        let gather = ReplyGather(count: keys.buckets) { replies in
            var hashes: [InfoHash] = []
            for r in replies {
                switch Self.storeResult(r) {
                case .success(let members):
                    hashes += (members.array ?? []).compactMap {
                        $0.bytes.flatMap { Bytes20(hex: String(decoding: $0, as: UTF8.self)) }.map(InfoHash.init)
                    }
                case .failure(let e): return completion(.failure(e))
                }
            }
            self.scrape(Array(hashes.prefix(limit)), completion: completion)
        }
        for b in 0..<keys.buckets {
            client.command([Array("ZRANGE".utf8), keys.index(b), Array("0".utf8), Self.decimal(max(0, limit - 1))], slot: keys.slot(b)) {
                gather.set(b, $0)
            }
        }
    }

    /// The sum of every bucket's totals (one HMGET each, all sent at once).
    public func totals() async throws(StoreError) -> SwarmTotals {
        try StoreError.checkCancellation()
        return try await awaitCallback { totals(completion: $0) }
    }

    private func totals(completion: @escaping @Sendable (Result<SwarmTotals, StoreError>) -> Void) {
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
            var first = 0
            while true {
                try StoreError.checkCancellation()
                let reply = try Self.storeResult(
                    await client.eval(
                        RedisScripts.torrentRows, slot: keys.slot(b), keys: [keys.index(b)],
                        arguments: [Self.decimal(first), Self.decimal(chunk), Array(keys.prefix.utf8), Array(keys.rowsTag(b).utf8)])
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

    private func peerRows(of hash: InfoHash, limit: Int, completion: @escaping @Sendable (Result<[PeerRow]?, StoreError>) -> Void) {
        let now = Int(clock.now())
        let cutoff = now - ttl
        client.eval(
            RedisScripts.peerRows, slot: keys.slot(keys.bucket(hash)), keys: keys.records(hash),
            arguments: [Self.decimal(limit)]
        ) { result in
            completion(
                Self.storeResult(result).map { reply in
                    let parts = reply.array ?? []
                    var rows: [PeerRow] = []
                    for (i, part) in parts.prefix(2).enumerated() {
                        for case .string(let record) in part.array ?? [] where record.count == RedisRecord.size {
                            Self.forEachRecord(record, cutoff: cutoff) { peer, flags, last in
                                let role: PeerRole = i == 0 ? .seeder : flags & 8 != 0 ? .partialSeed : .leecher
                                rows.append(
                                    PeerRow(
                                        peerID: peer.peerID, role: role, v4: peer.v4, v6: peer.v6,
                                        idle: UInt32(clamping: max(0, now - last))))
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
    private func sweep(_ hash: InfoHash, hex: [UInt8], bucket b: Int, cutoff: [UInt8]) async throws(StoreError) -> Int {
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
                    RedisScripts.sweepTorrent, slot: keys.slot(b), keys: keys.torrent(hash),
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

    /// Bytes from Redis as text for a log line: printable ASCII kept, the rest as \xNN, at most 64.
    private static func printable(_ bytes: [UInt8]) -> String {
        bytes.prefix(64).map {
            $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\\") ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16)
        }
        .joined()
    }

    /// A broken connection and an error reply both mean "storage unavailable" to a client.
    private static func storeResult(_ r: Result<RedisValue, RedisError>) -> Result<RedisValue, StoreError> {
        switch r {
        case .success(.error(let message)): .failure(.unavailable("redis: \(message)"))
        case .success(let v): .success(v)
        case .failure(let e): .failure(.unavailable("\(e)"))
        }
    }

    private static func decimal(_ n: Int) -> [UInt8] { Array(String(n).utf8) }
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
