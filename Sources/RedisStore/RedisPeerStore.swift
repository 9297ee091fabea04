public import Logging
public import NIOCore
public import NIOPosix
import Synchronization
public import TrackerCore

/// Swarms in Redis: they survive a restart of Squall and are shared by every Squall that uses
/// the same Redis and prefix. An announce is one round trip (a Lua script, `EVALSHA`) whose
/// work depends on `numwant`, not on swarm size; a scrape of many hashes is one round trip too.
///
/// hiredis formats the commands and parses the replies, but the sockets are SwiftNIO channels:
/// each event loop pipelines its announces on its own connection and never blocks (see
/// `RedisClient`). When Redis is down, verbs fail with `StoreError.unavailable` within the
/// command timeout, and the connections come back by themselves.
public final class RedisPeerStore: PeerStore, Sendable {
    /// `redis`, or `redis-cluster`.
    public let kind: StoreKind
    /// Commands complete on the links' event loops.
    public var completesInline: Bool { false }
    /// Commands sent from threads that are not the group's loops (see `RedisClient`).
    var commandsSentOffLoop: Int { client.sentFromOffLoop }
    let client: RedisClient
    let keys: RedisKeys
    /// The scripts of this Redis's layout (`RedisOptions.users`): open or private records.
    let scripts: RedisScripts
    let clock: any TrackerClock
    /// Seconds an endpoint is kept after its announce (`extendPeerTTL` raises it).
    private let ttlSeconds: Atomic<Int>
    var ttl: Int { ttlSeconds.load(ordering: .relaxed) }
    let maxPeersPerTorrent: Int
    /// Torrents and peers the tracker holds in all (`memory.max_torrents`, `memory.max_peers`),
    /// and what each totals hash holds: all of it on a single Redis, a bucket's share (rounded
    /// up) on a cluster, where each of the 256 buckets keeps its own totals.
    let maxTorrents: Int, maxPeers: Int
    let shares: (torrents: Int, peers: Int)
    let logger: Logger

    public convenience init(
        endpoint: RedisEndpoint, prefix: String = "squall:", connections: Int = 1, timeout: Duration = .seconds(1),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, clock: any TrackerClock = UnixTrackerClock(), peerTTL: Int,
        maxPeersPerTorrent: Int = 100_000, users: Bool = false
    ) {
        var options = RedisOptions(endpoint: endpoint, prefix: prefix, connections: connections, timeout: timeout)
        options.users = users
        self.init(options: options, group: group, clock: clock, peerTTL: peerTTL, maxPeersPerTorrent: maxPeersPerTorrent)
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
        scripts = options.users ? .users : .open
        client = RedisClient(options: options, scripts: scripts.all, group: group)
        let keys = RedisKeys(prefix: options.prefix, cluster: options.isCluster)
        self.keys = keys
        let share = { (cap: Int) in (cap + keys.buckets - 1) / keys.buckets }
        shares = (share(maxTorrents), share(maxPeers))
        kind = options.isCluster ? .redisCluster : .redis
        self.clock = clock
        ttlSeconds = Atomic(peerTTL)
        self.maxPeersPerTorrent = maxPeersPerTorrent
    }

    public func extendPeerTTL(to seconds: Int) {
        var seen = ttlSeconds.load(ordering: .relaxed)
        while seconds > seen {
            let (done, original) = ttlSeconds.compareExchange(expected: seen, desired: seconds, ordering: .relaxed)
            if done { return }
            seen = original
        }
    }

    /// Closes the connections to Redis (they reopen on the next verb).
    public func close() { client.close() }

    public func announce(_ a: PeerAnnounce, completion: @escaping @Sendable (Result<SwarmReply, StoreError>) -> Void) {
        // An open tracker's records have no room for a user (`RedisOptions.users`).
        guard a.user == 0 || scripts.recordSize == RedisRecord.size(users: true) else {
            return completion(
                .failure(
                    .unavailable(
                        "redis: a private tracker's announce on a store opened for an open tracker's records (RedisOptions.users is off)")))
        }
        let now = clock.now()
        let size = scripts.recordSize
        let keys = keys.torrent(a.infoHash)
        let cutoff = Int(now) - ttl
        let limits = (perTorrent: maxPeersPerTorrent, torrents: maxTorrents, peers: maxPeers)
        let base = RedisAnnounceArguments(
            keys: keys, peerID: a.peerID, endpoint: a.endpoint, role: a.role, countsDownload: a.countsDownload, remove: a.remove,
            numwant: a.numwant, now: now, ttl: ttl, maxPeersPerTorrent: maxPeersPerTorrent, infoHashHex: a.infoHash.raw.hex, seed: 0,
            scriptSamples: true, torrentsShare: shares.torrents, peersShare: shares.peers, key: a.key,
            peersPerSource: a.quota.peersPerTorrent, mayCreateTorrent: a.quota.mayCreateTorrent, sourceCells: self.keys.sourceCells,
            peersPerUser: a.quota.peersPerUser, user: a.user, mayAddPeer: a.quota.mayAddPeer)
        client.withLink(slot: self.keys.slot(self.keys.bucket(a.infoHash))) { link in
            // The link's loop: here and in the replies below, which complete on it.
            let hintsOnLoop = link.hints
            let hints = hintsOnLoop.value
            let client = self.client
            let known = a.remove ? nil : hints.counts(a.infoHash)
            var arguments = base
            arguments.seed = hints.seed()
            arguments.scriptSamples = known == nil
            if let known {
                arguments.reads = hints.ranges(seeders: known.seeders, leechers: known.leechers, role: a.role, numwant: a.numwant).map {
                    r in
                    let bytes = RedisRecord.byteRange(first: r.first, count: r.count, size: size)
                    return (r.seeders, bytes.from, bytes.through)
                }
            }
            let script = arguments.encoded
            client.send(on: link, { $0.eval(self.scripts.announce, tail: script, $1) }) { reply in
                let hints = hintsOnLoop.value
                let result = Self.announceReply(
                    reply, for: a, squallSampled: known != nil, now: Int(now), cutoff: cutoff, limits: limits, hints: hints, size: size)
                guard case .success(let reply) = result, reply.complete + reply.incomplete > 0 else {
                    hints.forget(a.infoHash)
                    return completion(result)
                }
                hints.record(a.infoHash, seeders: reply.complete, leechers: reply.incomplete)
                // Counts from another loop's or another Squall's announces made the picks miss:
                // read a new sample with the counts just returned (a second round trip, rare).
                let again =
                    known != nil && reply.peers.count < Self.expectedSample(reply, for: a)
                    ? Self.reads(for: a, seeders: reply.complete, leechers: reply.incomplete, keys: keys, hints: hints, size: size) : []
                guard !again.isEmpty else { return completion(result) }
                let retry = ReplyGather(count: again.count) { replies in
                    let hints = hintsOnLoop.value
                    completion(
                        Self.sampledPeers(
                            replies[...], for: a, limit: Self.expectedSample(reply, for: a), cutoff: cutoff, hints: hints, size: size
                        ).map { sample in
                            var fresh = reply
                            (fresh.peers, fresh.seedersSampled) = sample
                            return fresh
                        })
                }
                for (i, read) in again.enumerated() { client.send(on: link, { $0.command(read, $1) }) { retry.set(i, $0) } }
            }
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
            client.eval(scripts.scrape, slot: keys.slot(bucket), keys: group.map(keys.meta), arguments: []) { gather.set(i, $0) }
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

    /// Bytes from Redis as text for a log line: printable ASCII kept, the rest as \xNN, at most 64.
    static func printable(_ bytes: [UInt8]) -> String {
        bytes.prefix(64).map {
            $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\\") ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16)
        }
        .joined()
    }

    /// A broken connection and an error reply both mean "storage unavailable" to a client.
    static func storeResult(_ r: Result<RedisValue, RedisError>) -> Result<RedisValue, StoreError> {
        switch r {
        case .success(.error(let message)): .failure(.unavailable("redis: \(message)"))
        case .success(let v): .success(v)
        case .failure(let e): .failure(.unavailable("\(e)"))
        }
    }

    static func decimal(_ n: Int) -> [UInt8] { Array(String(n).utf8) }
}
