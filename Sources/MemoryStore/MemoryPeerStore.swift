import Synchronization
public import TrackerCore

/// Bounds on what the memory store holds.
public struct MemoryStoreLimits: Sendable, Equatable {
    /// Torrents the store tracks at once; announces for new torrents beyond it are refused.
    public var maxTorrents: Int
    /// Peers one torrent holds at once; new peers beyond it are refused.
    public var maxPeersPerTorrent: Int
    /// Peers the whole store holds at once; new peers beyond it are refused (peers already in
    /// keep announcing), so many torrents of modest swarms cannot exhaust memory either.
    public var maxPeers: Int
    public init(maxTorrents: Int = 1_000_000, maxPeersPerTorrent: Int = 100_000, maxPeers: Int = 10_000_000) {
        (self.maxTorrents, self.maxPeersPerTorrent, self.maxPeers) = (maxTorrents, maxPeersPerTorrent, maxPeers)
    }
}

/// The embedded default store: swarms in this process's memory.
///
/// Torrents are spread over shards by a keyed hash of the info_hash, each shard behind its own
/// mutex, so announces for different torrents on different event-loop threads rarely meet and
/// no lock covers the whole store. Every verb completes inline, on the caller's thread.
///
/// Expiry: an endpoint not announced for `peerTTL` seconds is dropped when its torrent is next
/// touched (checked at most every `lazySweepSpacing` seconds per torrent) and by `expire()`,
/// which a background service calls; a torrent left with no peers is dropped by `expire()`.
public final class MemoryPeerStore: PeerStore {
    public let kind = StoreKind.memory
    let shards: [Shard]
    private let shardMask: Int
    let seed: UInt64
    let clock: any TrackerClock
    /// Seconds an endpoint is kept after its announce (`extendPeerTTL` raises it).
    private let ttlSeconds: Atomic<UInt32>
    var ttl: UInt32 { ttlSeconds.load(ordering: .relaxed) }
    let limits: MemoryStoreLimits
    let torrentCount = Atomic<Int>(0)
    /// Peers in all shards, for `maxPeers`: moved only when a peer joins or leaves.
    let peerCount = Atomic<Int>(0)
    static let lazySweepSpacing: UInt32 = 10

    final class Shard: Sendable {
        let state: Locked<ShardState>
        init(seed: UInt64) { state = Locked(ShardState(rng: SplitMix64(seed: seed))) }
    }

    struct ShardState: ~Copyable {
        var torrents: [InfoHash: Swarm] = [:]
        var rng: SplitMix64
        var peers = 0
        var seeders = 0
        var v4 = 0
        var v6 = 0

        mutating func add(_ d: SwarmDelta) {
            peers += d.peers
            seeders += d.seeders
            v4 += d.v4
            v6 += d.v6
        }
    }

    public init(
        clock: (any TrackerClock)? = nil, peerTTL: Int, limits: MemoryStoreLimits = MemoryStoreLimits(), shardCount: Int = 64
    ) {
        var seeder = SystemRandomNumberGenerator()
        seed = seeder.next()
        var n = 1
        while n < shardCount { n <<= 1 }
        shards = (0..<n).map { _ in Shard(seed: seeder.next()) }
        shardMask = n - 1
        // The system clock starts past one TTL, so a peer restored from a snapshot can have been
        // seen before this process started.
        self.clock = clock ?? SystemTrackerClock(start: UInt32(clamping: peerTTL) &+ 1)
        ttlSeconds = Atomic(UInt32(clamping: peerTTL))
        self.limits = limits
    }

    public func extendPeerTTL(to seconds: Int) {
        let wanted = UInt32(clamping: seconds)
        var seen = ttlSeconds.load(ordering: .relaxed)
        while wanted > seen {
            let (done, original) = ttlSeconds.compareExchange(expected: seen, desired: wanted, ordering: .relaxed)
            if done { return }
            seen = original
        }
    }

    @inline(__always)
    func shard(for hash: InfoHash) -> Shard {
        shards[Int(truncatingIfNeeded: hash.raw.mixed(seed: seed) >> 40) & shardMask]
    }

    private func cutoff(_ now: UInt32) -> UInt32 { now > ttl ? now - ttl : 0 }

    public func announce(_ a: PeerAnnounce, completion: @escaping @Sendable (Result<SwarmReply, StoreError>) -> Void) {
        completion(announceNow(a))
    }

    /// The announce verb, answered directly.
    public func announceNow(_ a: PeerAnnounce) -> Result<SwarmReply, StoreError> {
        let now = clock.now()
        let cutoff = cutoff(now)
        let seed = seed
        let limits = limits
        // Approximate by at most one peer per thread racing here; a bound, not an exact count.
        let storeFull = peerCount.load(ordering: .relaxed) >= limits.maxPeers
        return shard(for: a.infoHash).state.withLock { state -> Result<SwarmReply, StoreError> in
            var created = false
            if state.torrents[a.infoHash] == nil {
                if a.remove { return .success(SwarmReply(complete: 0, incomplete: 0, downloaded: 0, peers: [])) }
                if storeFull { return .failure(Self.storeFull(limits)) }
                guard a.quota.mayCreateTorrent else { return .failure(.tooManyNewTorrents) }
                guard a.quota.mayAddPeer else { return .failure(.noNewPeer) }
                // Reserve a torrent slot; give it back if another shard won the last one.
                if torrentCount.add(1, ordering: .relaxed).newValue > limits.maxTorrents {
                    torrentCount.subtract(1, ordering: .relaxed)
                    return .failure(.full("tracker is full (at most \(limits.maxTorrents) torrents)"))
                }
                state.torrents[a.infoHash] = Swarm(lastSweep: now)
                created = true
            }
            var (result, d) = Self.apply(
                a, to: &state.torrents[a.infoHash]!, rng: &state.rng, now: now, cutoff: cutoff, ttl: ttl,
                maxPeers: limits.maxPeersPerTorrent, storeFull: storeFull ? Self.storeFull(limits) : nil, seed: seed)
            state.add(d)
            if d.peers != 0 { peerCount.add(d.peers, ordering: .relaxed) }
            if created, case .success(var reply) = result {
                reply.createdTorrent = true
                result = .success(reply)
            }
            return result
        }
    }

    private static func storeFull(_ limits: MemoryStoreLimits) -> StoreError {
        .full("tracker is full (at most \(limits.maxPeers) peers)")
    }

    /// One announce against one swarm; returns the reply and how the counts moved. With
    /// `storeFull`, only peers already in the swarm are served (a new one gets that failure).
    private static func apply(
        _ a: PeerAnnounce, to swarm: inout Swarm, rng: inout SplitMix64, now: UInt32, cutoff: UInt32, ttl: UInt32,
        maxPeers: Int, storeFull: StoreError?, seed: UInt64
    ) -> (Result<SwarmReply, StoreError>, SwarmDelta) {
        var delta = SwarmDelta()
        // An endpoint seen at `oldestSeen` has expired once `now - ttl` reaches it.
        if now >= swarm.oldestSeen &+ ttl, now &- swarm.lastSweep >= lazySweepSpacing {
            delta = swarm.sweep(cutoff: cutoff, now: now, seed: seed)
        }
        func reply(_ peers: [SwarmPeer], recorded: Bool = true, past: PeerPast?, seeders: Int = 0) -> SwarmReply {
            SwarmReply(
                complete: Int(swarm.seeders), incomplete: swarm.leechers, downloaded: Int(swarm.downloaded), peers: peers,
                recorded: recorded, past: past, seedersSampled: seeders)
        }
        if a.remove {
            let (recorded, d, past) = swarm.stop(a, now: now, cutoff: cutoff, seed: seed)
            delta += d
            return (.success(reply([], recorded: recorded, past: past)), delta)
        }
        let (outcome, d, past) = swarm.upsert(a, now: now, cutoff: cutoff, maxPeers: storeFull == nil ? maxPeers : 0, seed: seed)
        delta += d
        let position: Int, recorded: Bool
        switch outcome {
        case .recorded(let p): (position, recorded) = (p, true)
        case .notOwner(let p): (position, recorded) = (p, false)
        case .full: return (.failure(storeFull ?? .full("torrent is full (at most \(maxPeers) peers)")), delta)
        case .sourceFull: return (.failure(.tooManyPeersFromSource(max: a.quota.peersPerTorrent)), delta)
        case .userFull: return (.failure(.tooManyPeersForUser(max: a.quota.peersPerUser)), delta)
        case .noNewPeer: return (.failure(.noNewPeer), delta)
        }
        let sample = swarm.sample(
            numwant: a.numwant, excluding: position, includeSeeders: a.role.wantsSeeders, cutoff: cutoff, using: &rng)
        return (.success(reply(sample.peers, recorded: recorded, past: past, seeders: sample.seeders)), delta)
    }

    public func scrape(_ hashes: [InfoHash], completion: @escaping @Sendable (Result<[InfoHash: ScrapeEntry], StoreError>) -> Void) {
        var out: [InfoHash: ScrapeEntry] = [:]
        for h in hashes {
            if let e = shard(for: h).state.withLock({ $0.torrents[h]?.scrapeEntry }), e.complete + e.incomplete > 0 {
                out[h] = e
            }
        }
        completion(.success(out))
    }

    public func scrapeAll(limit: Int, completion: @escaping @Sendable (Result<[InfoHash: ScrapeEntry], StoreError>) -> Void) {
        var out: [InfoHash: ScrapeEntry] = [:]
        for s in shards where out.count < limit {
            s.state.withLock { state in
                for (h, swarm) in state.torrents where swarm.count > 0 {
                    guard out.count < limit else { break }
                    out[h] = swarm.scrapeEntry
                }
            }
        }
        completion(.success(out))
    }

    /// One shard at a time, each under its lock only while its rows are read; the caller's task
    /// may be cancelled between shards.
    public func torrentRows() async throws(StoreError) -> [TorrentRow] {
        let now = clock.now()
        let cutoff = cutoff(now)
        var rows: [TorrentRow] = []
        for s in shards {
            try StoreError.checkCancellation()
            s.state.withLock { state in
                for (h, swarm) in state.torrents where swarm.count > 0 { rows.append(swarm.row(h, cutoff: cutoff, now: now)) }
            }
        }
        return rows
    }

    public func peerRows(of hash: InfoHash, limit: Int) async throws(StoreError) -> [PeerRow]? {
        let now = clock.now()
        let cutoff = cutoff(now)
        return shard(for: hash).state.withLock { state in
            state.torrents[hash].flatMap { swarm -> [PeerRow]? in
                let rows = swarm.peerRows(limit: limit, cutoff: cutoff, now: now)
                return rows.isEmpty ? nil : rows
            }
        }
    }

    public func totals() async throws(StoreError) -> SwarmTotals { totalsNow() }

    /// The sums kept per shard: 64 short lock holds, never a walk.
    public func totalsNow() -> SwarmTotals {
        var t = SwarmTotals()
        for s in shards {
            s.state.withLock { state in
                t.torrents += state.torrents.count
                t.peers += state.peers
                t.seeders += state.seeders
                t.ipv4Endpoints += state.v4
                t.ipv6Endpoints += state.v6
            }
        }
        t.leechers = t.peers - t.seeders
        return t
    }

    @discardableResult
    public func expire() async throws(StoreError) -> Int {
        try expireNow(stop: { Task.isCancelled })
    }

    /// Sweeps every torrent that may hold an expired endpoint, one shard at a time, and drops
    /// torrents left empty. Returns how many peers were removed.
    @discardableResult
    public func expireNow() -> Int {
        // Never stopped: `stop` never says so.
        (try? expireNow(stop: { false })) ?? 0
    }

    /// `expireNow`, asking `stop` before each shard: true ends the pass with `.cancelled` (what
    /// was swept stays swept).
    private func expireNow(stop: () -> Bool) throws(StoreError) -> Int {
        let now = clock.now()
        let cutoff = cutoff(now)
        let seed = seed
        var removed = 0
        for s in shards {
            if stop() { throw .cancelled }
            let dropped = s.state.withLock { state -> Int in
                var empty: [InfoHash] = []
                var i = state.torrents.values.startIndex
                while i != state.torrents.values.endIndex {
                    if now >= state.torrents.values[i].oldestSeen &+ ttl || state.torrents.values[i].count == 0 {
                        let d = state.torrents.values[i].sweep(cutoff: cutoff, now: now, seed: seed)
                        state.add(d)
                        if d.peers != 0 { peerCount.add(d.peers, ordering: .relaxed) }
                        removed -= d.peers
                        if state.torrents.values[i].count == 0 { empty.append(state.torrents.keys[i]) }
                    }
                    state.torrents.values.formIndex(after: &i)
                }
                for h in empty { state.torrents.removeValue(forKey: h) }
                return empty.count
            }
            torrentCount.subtract(dropped, ordering: .relaxed)
        }
        return removed
    }
}
