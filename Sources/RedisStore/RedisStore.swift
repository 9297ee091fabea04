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
    public let kind = "redis"
    private let client: RedisClient
    /// One per link, used only on that link's loop.
    private let hints: [SampleHints]
    private let keys: RedisKeys
    private let clock: any TrackerClock
    private let ttl: Int
    private let maxPeersPerTorrent: Int

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
        clock: any TrackerClock = UnixTrackerClock(), peerTTL: Int, maxPeersPerTorrent: Int = 100_000
    ) {
        client = RedisClient(endpoint: options.endpoint, options: options, scripts: RedisScripts.all, group: group)
        hints = (0..<client.count).map { _ in SampleHints() }
        keys = RedisKeys(prefix: options.prefix)
        self.clock = clock
        ttl = peerTTL
        self.maxPeersPerTorrent = maxPeersPerTorrent
    }

    /// Connects, authenticates, selects the database and pings, once: the startup check.
    /// Blocks the calling thread (use it before serving, never on an event loop).
    public static func check(_ options: RedisOptions) throws(RedisError) {
        let c = try RedisConnection(options.endpoint, timeout: options.connectTimeout)
        if let password = options.password {
            let auth = try c.command([Array("AUTH".utf8)] + (options.username.map { [Array($0.utf8)] } ?? []) + [Array(password.utf8)])
            if case .error(let message) = auth { throw RedisError("\(options.redacted): authentication failed: \(message)") }
        }
        if options.database != 0 {
            if case .error(let message) = try c.command("SELECT", String(options.database)) {
                throw RedisError("\(options.redacted): cannot select database \(options.database): \(message)")
            }
        }
        guard try c.command("PING") == .status("PONG") else { throw RedisError("\(options.redacted): no PONG") }
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
        var random = SystemRandomNumberGenerator()
        let keys = keys.torrent(a.infoHash)
        var tail = RedisArguments()
        tail.append(decimal: keys.count)
        for k in keys { tail.append(k) }
        for arg in [
            a.peerID.raw.bytes, family, endpoint, [0x30 + a.role.rawValue], [a.countsDownload ? 0x31 : 0x30], [a.remove ? 0x31 : 0x30],
        ] { tail.append(arg) }
        tail.append(decimal: a.numwant)
        tail.append(decimal: Int(now))
        tail.append([UInt8(now >> 24), UInt8(now >> 16 & 0xff), UInt8(now >> 8 & 0xff), UInt8(now & 0xff)])
        tail.append(decimal: ttl)
        tail.append(decimal: maxPeersPerTorrent)
        tail.append(a.infoHash.raw.hex)
        tail.append(decimal: Int(random.next() >> 12))
        let cutoff = Int(now) - ttl
        let maxPeers = maxPeersPerTorrent
        let arguments = tail
        client.withLink { link, index in
            let hints = self.hints[index]
            let known = a.remove ? nil : hints.counts(a.infoHash)
            let reads = known.map { Self.reads(for: a, seeders: $0.seeders, leechers: $0.leechers, keys: keys, hints: hints) } ?? []
            let gather = ReplyGather(count: 1 + reads.count) { replies in
                let result = Self.announceReply(replies, for: a, cutoff: cutoff, maxPeers: maxPeers)
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
                        Self.sampledPeers(replies[...], for: a, cutoff: cutoff).map { peers in
                            var fresh = reply
                            fresh.peers = peers
                            return fresh
                        })
                }
                for (i, read) in again.enumerated() { link.command(read) { retry.set(i, $0) } }
            }
            var script = arguments
            script.append([known == nil ? 0x31 : 0x30])
            link.eval(RedisScripts.announce, tail: script) { gather.set(0, $0) }
            for (i, read) in reads.enumerated() { link.command(read) { gather.set(1 + i, $0) } }
        }
    }

    /// The `HMGET`s that read a sample for `a` from a swarm of these counts.
    private static func reads(for a: PeerAnnounce, seeders: Int, leechers: Int, keys: [[UInt8]], hints: SampleHints) -> [RedisArguments] {
        let picks = hints.picks(seeders: seeders, leechers: leechers, role: a.role, numwant: a.numwant)
        var reads: [RedisArguments] = []
        for (key, slots) in [(keys[1], picks.seeders), (keys[2], picks.leechers)] where !slots.isEmpty {
            var read = RedisArguments()
            read.append("HMGET")
            read.append(key)
            for slot in slots { read.append(decimal: slot) }
            reads.append(read)
        }
        return reads
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

    /// The script's reply, plus the records of the `HMGET`s sent behind it when Squall sampled.
    private static func announceReply(
        _ replies: [Result<RedisValue, RedisError>], for a: PeerAnnounce, cutoff: Int, maxPeers: Int
    ) -> Result<SwarmReply, StoreError> {
        storeResult(replies[0]).flatMap { reply in
            guard let parts = reply.array else { return .failure(.unavailable("redis: unexpected reply \(reply)")) }
            if parts.first == .string(Array("full".utf8)) { return .failure(.full("torrent is full (at most \(maxPeers) peers)")) }
            guard parts.count == 4, let s = parts[0].integer, let l = parts[1].integer, let d = parts[2].integer, let blob = parts[3].bytes
            else { return .failure(.unavailable("redis: unexpected reply \(reply)")) }
            let peers: Result<[SwarmPeer], StoreError> =
                replies.count > 1 ? sampledPeers(replies.dropFirst(), for: a, cutoff: cutoff) : .success(decodePeers(blob, cutoff: cutoff))
            return peers.map { SwarmReply(complete: s, incomplete: l, downloaded: d, peers: $0) }
        }
    }

    /// The records read by `HMGET`s: slots past the end are nil, the announcing peer is dropped,
    /// and the sample is cut to `numwant` (one more was read when the peer could be among them).
    private static func sampledPeers(
        _ replies: ArraySlice<Result<RedisValue, RedisError>>, for a: PeerAnnounce, cutoff: Int
    ) -> Result<[SwarmPeer], StoreError> {
        var blob: [UInt8] = []
        blob.reserveCapacity(53 * (a.numwant + 1))
        for r in replies {
            switch storeResult(r) {
            case .success(let value):
                for case .string(let record) in value.array ?? [] where record.count == 53 { blob += record }
            case .failure(let e): return .failure(e)
            }
        }
        var peers = decodePeers(blob, cutoff: cutoff)
        peers.removeAll { $0.peerID == a.peerID }
        // Dropping a random one of a uniform sample keeps it uniform (dropping the last would not:
        // Floyd's last pick is the only one that can be the last slot).
        while peers.count > a.numwant { peers.remove(at: Int.random(in: peers.indices)) }
        return .success(peers)
    }

    /// Records as `RedisScripts` lays them out; endpoints last announced at or before `cutoff`
    /// are dropped, and peers left with none.
    static func decodePeers(_ blob: [UInt8], cutoff: Int) -> [SwarmPeer] {
        var peers: [SwarmPeer] = []
        peers.reserveCapacity(blob.count / 53)
        func u32(_ o: Int) -> Int { Int(blob[o]) << 24 | Int(blob[o + 1]) << 16 | Int(blob[o + 2]) << 8 | Int(blob[o + 3]) }
        func u16(_ o: Int) -> UInt16 { UInt16(blob[o]) << 8 | UInt16(blob[o + 1]) }
        for o in stride(from: 0, to: blob.count - 52, by: 53) {
            let flags = blob[o + 20]
            let v4 =
                flags & 1 != 0 && u32(o + 45) > cutoff
                ? Endpoint(address: .v4(IPv4Address(blob[o + 21], blob[o + 22], blob[o + 23], blob[o + 24])), port: u16(o + 25)) : nil
            let v6 =
                flags & 2 != 0 && u32(o + 49) > cutoff
                ? IPv6Address(Array(blob[(o + 27)..<(o + 43)])).map { Endpoint(address: .v6($0), port: u16(o + 43)) } : nil
            guard v4 != nil || v6 != nil, let id = PeerID(blob[o..<(o + 20)]) else { continue }
            peers.append(SwarmPeer(peerID: id, v4: v4, v6: v6))
        }
        return peers
    }

    public func scrape(_ hashes: [InfoHash], completion: @escaping @Sendable (Result<[InfoHash: ScrapeEntry], StoreError>) -> Void) {
        guard !hashes.isEmpty else { return completion(.success([:])) }
        client.eval(RedisScripts.scrape, keys: hashes.flatMap { keys.scrape($0) }, arguments: []) { result in
            completion(
                Self.storeResult(result).flatMap { reply in
                    let n = (reply.array ?? []).map { $0.integer ?? 0 }
                    guard n.count == hashes.count * 4 else { return .failure(.unavailable("redis: unexpected reply \(reply)")) }
                    var out: [InfoHash: ScrapeEntry] = [:]
                    for (i, h) in hashes.enumerated() where n[4 * i] + n[4 * i + 1] > 0 {
                        let (s, l, d, p) = (n[4 * i], n[4 * i + 1], n[4 * i + 2], n[4 * i + 3])
                        out[h] = ScrapeEntry(complete: s, incomplete: l, downloaded: d, downloaders: l - p)
                    }
                    return .success(out)
                })
        }
    }

    public func scrapeAll(limit: Int, completion: @escaping @Sendable (Result<[InfoHash: ScrapeEntry], StoreError>) -> Void) {
        client.command([Array("ZRANGE".utf8), keys.index, Array("0".utf8), Self.decimal(max(0, limit - 1))]) { result in
            switch Self.storeResult(result) {
            case .success(let members):
                let hashes = (members.array ?? []).compactMap {
                    $0.bytes.flatMap { Bytes20(hex: String(decoding: $0, as: UTF8.self)) }.map(InfoHash.init)
                }
                self.scrape(hashes, completion: completion)
            case .failure(let e): completion(.failure(e))
            }
        }
    }

    public func totals(completion: @escaping @Sendable (Result<SwarmTotals, StoreError>) -> Void) {
        client.command([Array("HMGET".utf8), keys.totals, Array("t".utf8), Array("p".utf8), Array("s".utf8)]) { result in
            completion(
                Self.storeResult(result).map { reply in
                    let n = (reply.array ?? []).map { $0.bytes.flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0 }
                    let (t, p, s) = (n.count > 0 ? n[0] : 0, n.count > 1 ? n[1] : 0, n.count > 2 ? n[2] : 0)
                    return SwarmTotals(torrents: t, peers: p, seeders: s, leechers: p - s)
                })
        }
    }

    /// Up when Redis answers PING within the timeout (reconnecting if it must).
    public func health(completion: @escaping @Sendable (Bool) -> Void) {
        client.command([Array("PING".utf8)]) { completion((try? $0.get()) == .status("PONG")) }
    }

    /// Sweeps, 100 at a time, every torrent whose oldest endpoint may have expired.
    public func expire(completion: @escaping @Sendable (Result<Int, StoreError>) -> Void) {
        let cutoff = Self.decimal(Int(clock.now()) - ttl)
        Task {
            do throws(StoreError) {
                var removed = 0
                while true {
                    let due = try await call([
                        Array("ZRANGEBYSCORE".utf8), keys.index, Array("-inf".utf8), cutoff, Array("LIMIT".utf8), Array("0".utf8),
                        Array("100".utf8),
                    ])
                    let members = (due.array ?? []).compactMap(\.bytes)
                    if members.isEmpty { return completion(.success(removed)) }
                    for hex in members {
                        guard let raw = Bytes20(hex: String(decoding: hex, as: UTF8.self)) else { continue }
                        let r = try await storeResult(
                            RedisScripts.sweepTorrent, keys: keys.torrent(InfoHash(raw)), arguments: [cutoff, hex])
                        removed += r.integer ?? 0
                    }
                }
            } catch {
                completion(.failure(error))
            }
        }
    }

    private func call(_ arguments: [[UInt8]]) async throws(StoreError) -> RedisValue {
        try Self.storeResult(await withCheckedContinuation { c in client.command(arguments) { c.resume(returning: $0) } }).get()
    }

    private func storeResult(_ script: RedisScript, keys: [[UInt8]], arguments: [[UInt8]]) async throws(StoreError) -> RedisValue {
        try Self.storeResult(
            await withCheckedContinuation { c in client.eval(script, keys: keys, arguments: arguments) { c.resume(returning: $0) } }
        ).get()
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
/// whatever order. Used on one loop only.
final class ReplyGather {
    private var replies: [Result<RedisValue, RedisError>?]
    private var missing: Int
    private let done: ([Result<RedisValue, RedisError>]) -> Void

    init(count: Int, done: @escaping ([Result<RedisValue, RedisError>]) -> Void) {
        replies = Array(repeating: nil, count: count)
        missing = count
        self.done = done
    }

    func set(_ i: Int, _ r: Result<RedisValue, RedisError>) {
        guard replies[i] == nil else { return }
        replies[i] = r
        missing -= 1
        if missing == 0 { done(replies.map { $0! }) }
    }
}
