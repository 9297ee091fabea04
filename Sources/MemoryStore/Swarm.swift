import TrackerCore

/// One peer as the memory store keeps it: 44 bytes. Its IPv6 endpoint, when it has one, lives
/// in the swarm's `v6` pool so that IPv4-only peers do not pay for 18 unused bytes.
struct PeerSlot {
    var id: Bytes20
    /// A private tracker's user (0 on an open tracker): with `id`, the peer's identity.
    var user: UInt32
    var v4: UInt32
    var seen4: UInt32
    /// Index into `Swarm.v6`, or -1.
    var v6: Int32
    /// The `PeerKey` the peer first announced with (0: none).
    var key: UInt32
    var port4: UInt16
    var flags: UInt8

    static let hasV4: UInt8 = 1
    static let partialSeed: UInt8 = 2
    static let downloadCounted: UInt8 = 4
}

/// An IPv6 endpoint in a swarm's pool: 24 bytes. A free slot's `seen` links the free list.
struct V6Slot {
    var high: UInt64
    var low: UInt64
    var seen: UInt32
    var port: UInt16
}

/// What `Swarm.upsert` did with an announce.
enum UpsertOutcome {
    /// Recorded; the peer is now at this position.
    case recorded(Int)
    /// The peer at this position belongs to someone else: nothing changed.
    case notOwner(Int)
    /// A new peer, and the swarm is at its cap.
    case full
    /// The announcing source holds as many endpoints in this swarm as its quota allows.
    case sourceFull
    /// A new peer, and its user holds as many peers in this swarm as its quota allows.
    case userFull
    /// A new peer, and the announce may add none (`SourceQuota.mayAddPeer`).
    case noNewPeer
}

/// What one announce changed in the swarm's counts, for the shard's running totals.
struct SwarmDelta {
    var peers = 0
    var seeders = 0
    /// Peers that gained (+) or lost (-) an IPv4 endpoint, and an IPv6 one.
    var v4 = 0
    var v6 = 0

    static func += (a: inout SwarmDelta, b: SwarmDelta) {
        a.peers += b.peers
        a.seeders += b.seeders
        a.v4 += b.v4
        a.v6 += b.v6
    }
}

/// The peers of one torrent.
///
/// `peers[0..<seeders]` are seeders, the rest leechers (partial seeds among them, flagged), so a
/// seeder's sample is drawn from one contiguous range. Small swarms are searched linearly; from
/// `indexThreshold` peers on, `index` maps peer ids to positions (open addressing, linear probing,
/// entries are position + 1, 0 is empty).
struct Swarm {
    var peers: [PeerSlot] = []
    var v6: [V6Slot] = []
    var index: [UInt32] = []
    var seeders: UInt32 = 0
    var partialSeeds: UInt32 = 0
    var downloaded: UInt32 = 0
    var v6FreeHead: Int32 = -1
    /// Slots of `v6` in use (the rest are on the free list).
    var v6Live: Int32 = 0
    /// A lower bound on the oldest `seen` of any endpoint: nothing can have expired before
    /// `oldestSeen + ttl`.
    var oldestSeen: UInt32 = 0
    var lastSweep: UInt32 = 0
    /// Endpoints per source, kept from the first time a quota had to be checked in a swarm at
    /// least that large (a smaller swarm cannot hold more endpoints of one source than peers).
    var sources: [SourceKey: UInt32] = [:]
    var countingSources = false
    /// Peers per user, kept the same way from the first time a user quota had to be checked.
    var users: [UInt32: UInt32] = [:]
    var countingUsers = false

    static let indexThreshold = 16

    var count: Int { peers.count }
    var leechers: Int { peers.count - Int(seeders) }

    // MARK: lookup

    func position(of id: Bytes20, user: UInt32, seed: UInt64) -> Int? {
        if index.isEmpty {
            for i in peers.indices where peers[i].id == id && peers[i].user == user { return i }
            return nil
        }
        let slot = indexSlot(of: id, user: user, seed: seed)
        return slot < 0 ? nil : Int(index[slot]) - 1
    }

    /// Where the index probes for a peer first (the user mixed in; open trackers' user 0 leaves
    /// the hash as it was).
    @inline(__always)
    private static func home(_ id: Bytes20, _ user: UInt32, seed: UInt64) -> Int {
        Int(truncatingIfNeeded: id.mixed(seed: seed &+ UInt64(user) &* 0x9E37_79B9_7F4A_7C15))
    }

    /// The table slot holding the peer, or -1.
    private func indexSlot(of id: Bytes20, user: UInt32, seed: UInt64) -> Int {
        let mask = index.count - 1
        var i = Self.home(id, user, seed: seed) & mask
        while true {
            let e = index[i]
            if e == 0 { return -1 }
            if peers[Int(e) - 1].id == id, peers[Int(e) - 1].user == user { return i }
            i = (i + 1) & mask
        }
    }

    private func indexSlot(ofPeerAt p: Int, seed: UInt64) -> Int { indexSlot(of: peers[p].id, user: peers[p].user, seed: seed) }

    private mutating func indexInsert(position: Int, seed: UInt64) {
        let mask = index.count - 1
        var i = Self.home(peers[position].id, peers[position].user, seed: seed) & mask
        while index[i] != 0 { i = (i + 1) & mask }
        index[i] = UInt32(position + 1)
    }

    /// Backward-shift deletion: no tombstones, so probes stay short.
    private mutating func indexDelete(slot: Int, seed: UInt64) {
        let mask = index.count - 1
        var hole = slot
        var j = (slot + 1) & mask
        while index[j] != 0 {
            let moved = peers[Int(index[j]) - 1]
            let home = Self.home(moved.id, moved.user, seed: seed) & mask
            // Move j into the hole unless its home lies cyclically in (hole, j].
            let inRange = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j)
            if !inRange {
                index[hole] = index[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        index[hole] = 0
    }

    mutating func rebuildIndex(seed: UInt64) {
        guard peers.count >= Self.indexThreshold / 2 else {
            index = []
            return
        }
        var capacity = 32
        while capacity * 3 < peers.count * 4 + 4 { capacity <<= 1 }
        index = [UInt32](repeating: 0, count: capacity)
        for p in peers.indices { indexInsert(position: p, seed: seed) }
    }

    /// Keeps the index present past the threshold, at most 3/4 full, and gone for small swarms.
    private mutating func maintainIndex(seed: UInt64) {
        if index.isEmpty {
            if peers.count > Self.indexThreshold { rebuildIndex(seed: seed) }
        } else if peers.count * 4 > index.count * 3 || peers.count < Self.indexThreshold / 2
            || (index.count > 64 && peers.count * 16 < index.count)
        {
            rebuildIndex(seed: seed)
        }
    }

    /// Moves the record at `from` to `to` (overwriting `to`), keeping the index right.
    private mutating func move(from: Int, to: Int, seed: UInt64) {
        guard from != to else { return }
        if !index.isEmpty {
            let slot = indexSlot(ofPeerAt: from, seed: seed)
            index[slot] = UInt32(to + 1)
        }
        peers[to] = peers[from]
    }

    private mutating func swapAt(_ a: Int, _ b: Int, seed: UInt64) {
        guard a != b else { return }
        if !index.isEmpty {
            let sa = indexSlot(ofPeerAt: a, seed: seed)
            let sb = indexSlot(ofPeerAt: b, seed: seed)
            index[sa] = UInt32(b + 1)
            index[sb] = UInt32(a + 1)
        }
        peers.swapAt(a, b)
    }

    // MARK: v6 pool

    private mutating func allocV6() -> Int32 {
        v6Live += 1
        if v6FreeHead >= 0 {
            let s = v6FreeHead
            v6FreeHead = Int32(bitPattern: v6[Int(s)].seen)
            return s
        }
        growIfFull(&v6)
        v6.append(V6Slot(high: 0, low: 0, seen: 0, port: 0))
        return Int32(v6.count - 1)
    }

    private mutating func freeV6(_ s: Int32) {
        v6[Int(s)] = V6Slot(high: 0, low: 0, seen: UInt32(bitPattern: v6FreeHead), port: 0)
        v6FreeHead = s
        v6Live -= 1
    }

    /// Gives memory back once most of the pool is free (a swarm that had many IPv6 peers and
    /// lost them): live slots move to a pool sized for them and the peers follow. Each
    /// compaction needs three quarters of the pool freed first, so its cost is amortised.
    private mutating func compactV6IfSparse() {
        guard v6.count > 64, Int(v6Live) * 4 < v6.count else { return }
        var fresh: [V6Slot] = []
        fresh.reserveCapacity(max(16, Int(v6Live) + Int(v6Live) / 4))
        for p in peers.indices where peers[p].v6 >= 0 {
            fresh.append(v6[Int(peers[p].v6)])
            peers[p].v6 = Int32(fresh.count - 1)
        }
        v6 = fresh
        v6FreeHead = -1
    }

    /// Grows a full array by a quarter (at least one slot) instead of doubling it: most swarms
    /// are small, and doubling leaves a third of their records unused on average. Growth stays
    /// geometric, so appends remain amortised O(1).
    @inline(__always)
    private func growIfFull<T>(_ a: inout [T]) {
        if a.count == a.capacity { a.reserveCapacity(a.count + max(1, a.count / 4)) }
    }

    // MARK: ownership and sources

    private static func source(v4 value: UInt32) -> SourceKey { SourceKey(.v4(IPv4Address(value))) }
    private static func source(_ e: V6Slot) -> SourceKey { SourceKey(.v6(IPv6Address(high: e.high, low: e.low))) }

    private mutating func countSource(_ k: SourceKey, _ d: Int) {
        guard countingSources else { return }
        let n = Int(sources[k] ?? 0) + d
        sources[k] = n > 0 ? UInt32(n) : nil
    }

    /// Whether `source` may hold one more endpoint here under `limit` (0: no limit).
    private mutating func hasRoom(for source: SourceKey, limit: Int) -> Bool {
        guard limit > 0 else { return true }
        if !countingSources {
            if peers.count < limit { return true }
            countingSources = true
            for p in peers.indices {
                if peers[p].flags & PeerSlot.hasV4 != 0 { countSource(Self.source(v4: peers[p].v4), 1) }
                if peers[p].v6 >= 0 { countSource(Self.source(v6[Int(peers[p].v6)]), 1) }
            }
        }
        return Int(sources[source] ?? 0) < limit
    }

    private mutating func countUser(_ user: UInt32, _ d: Int) {
        guard countingUsers else { return }
        let n = Int(users[user] ?? 0) + d
        users[user] = n > 0 ? UInt32(n) : nil
    }

    /// Whether `user` may hold one more peer here under `limit` (0: no limit).
    private mutating func hasRoom(forUser user: UInt32, limit: Int) -> Bool {
        guard limit > 0 else { return true }
        if !countingUsers {
            if peers.count < limit { return true }
            countingUsers = true
            for p in peers.indices { countUser(peers[p].user, 1) }
        }
        return Int(users[user] ?? 0) < limit
    }

    /// What the peer at `p` was, seen from an announce over `address`'s family at `now`.
    private func past(at p: Int, family address: PeerAddress, now: UInt32, cutoff: UInt32) -> PeerPast {
        let seen4: UInt32? = live4(p, cutoff: cutoff) ? peers[p].seen4 : nil
        let seen6: UInt32? = live6(p, cutoff: cutoff) ? v6[Int(peers[p].v6)].seen : nil
        let same: UInt32? =
            switch address {
            case .v4: seen4
            case .v6: seen6
            }
        let last = max(seen4 ?? 0, seen6 ?? 0)
        return PeerPast(
            sinceLast: Int(now &- last), sinceLastSameFamily: same.map { Int(now &- $0) }, wasSeeder: p < Int(seeders),
            downloadCounted: peers[p].flags & PeerSlot.downloadCounted != 0)
    }

    /// Whether the peer at `p` has an endpoint of that family announced after `cutoff`.
    private func live4(_ p: Int, cutoff: UInt32) -> Bool { peers[p].flags & PeerSlot.hasV4 != 0 && peers[p].seen4 > cutoff }
    private func live6(_ p: Int, cutoff: UInt32) -> Bool { peers[p].v6 >= 0 && v6[Int(peers[p].v6)].seen > cutoff }
    private func isLive(_ p: Int, cutoff: UInt32) -> Bool { live4(p, cutoff: cutoff) || live6(p, cutoff: cutoff) }

    /// Where the peer at `p` holds an endpoint of `address`'s family: its source, and whether
    /// it is `address` itself; nil without one.
    private func endpoint(at p: Int, family address: PeerAddress) -> (source: SourceKey, same: Bool)? {
        switch address {
        case .v4(let a):
            guard peers[p].flags & PeerSlot.hasV4 != 0 else { return nil }
            return (Self.source(v4: peers[p].v4), peers[p].v4 == a.value)
        case .v6(let a):
            guard peers[p].v6 >= 0 else { return nil }
            let e = v6[Int(peers[p].v6)]
            return (Self.source(e), e.high == a.high && e.low == a.low)
        }
    }

    /// Drops the endpoint of `address`'s family from the peer at `p`, which keeps its other one.
    private mutating func dropEndpoint(at p: Int, family address: PeerAddress) -> SwarmDelta {
        var delta = SwarmDelta()
        switch address {
        case .v4:
            countSource(Self.source(v4: peers[p].v4), -1)
            peers[p].flags &= ~PeerSlot.hasV4
            delta.v4 = -1
        case .v6:
            countSource(Self.source(v6[Int(peers[p].v6)]), -1)
            freeV6(peers[p].v6)
            peers[p].v6 = -1
            delta.v6 = -1
            compactV6IfSparse()
        }
        return delta
    }

    // MARK: verbs

    /// Inserts or updates the announcing peer, if the announce is its owner's (see `PeerStore`),
    /// within `maxPeers` and the source's and the user's quotas. `past` is what the peer was
    /// before (nil: new).
    mutating func upsert(
        _ a: PeerAnnounce, now: UInt32, cutoff: UInt32, maxPeers: Int, seed: UInt64
    ) -> (outcome: UpsertOutcome, delta: SwarmDelta, past: PeerPast?) {
        var delta = SwarmDelta()
        let source = SourceKey(a.endpoint.address)
        var found = position(of: a.peerID.raw, user: a.user, seed: seed)
        if let f = found, !isLive(f, cutoff: cutoff) {
            // Gone, only not swept yet: whoever announces its peer_id now starts a new peer.
            delta += remove(at: f, seed: seed)
            found = nil
        }
        var p: Int
        var past: PeerPast?
        if let f = found {
            let current = endpoint(at: f, family: a.endpoint.address)
            let keyed = a.key.matches(PeerKey(value: peers[f].key))
            past = self.past(at: f, family: a.endpoint.address, now: now, cutoff: cutoff)
            guard keyed || current?.same == true else { return (.notOwner(f), delta, past) }
            if current?.source != source, !hasRoom(for: source, limit: a.quota.peersPerTorrent) { return (.sourceFull, delta, past) }
            p = f
        } else {
            guard a.quota.mayAddPeer else { return (.noNewPeer, delta, nil) }
            guard peers.count < maxPeers else { return (.full, delta, nil) }
            guard hasRoom(for: source, limit: a.quota.peersPerTorrent) else { return (.sourceFull, delta, nil) }
            guard hasRoom(forUser: a.user, limit: a.quota.peersPerUser) else { return (.userFull, delta, nil) }
            growIfFull(&peers)
            peers.append(PeerSlot(id: a.peerID.raw, user: a.user, v4: 0, seen4: 0, v6: -1, key: a.key.value, port4: 0, flags: 0))
            countUser(a.user, 1)
            p = peers.count - 1
            if !index.isEmpty { indexInsert(position: p, seed: seed) }
            maintainIndex(seed: seed)
            // += throughout: the delta may already hold the removal of a peer gone by expiry.
            delta.peers += 1
            if peers.count == 1 { oldestSeen = now }
        }
        let isNew = found == nil

        switch a.endpoint.address {
        case .v4(let addr):
            if peers[p].flags & PeerSlot.hasV4 == 0 {
                delta.v4 += 1
                countSource(source, 1)
            } else if peers[p].v4 != addr.value {
                let old = Self.source(v4: peers[p].v4)
                if old != source {
                    countSource(old, -1)
                    countSource(source, 1)
                }
            }
            peers[p].v4 = addr.value
            peers[p].port4 = a.endpoint.port
            peers[p].seen4 = now
            peers[p].flags |= PeerSlot.hasV4
        case .v6(let addr):
            var s = peers[p].v6
            if s < 0 {
                s = allocV6()
                peers[p].v6 = s
                delta.v6 += 1
                countSource(source, 1)
            } else {
                let old = Self.source(v6[Int(s)])
                if old != source {
                    countSource(old, -1)
                    countSource(source, 1)
                }
            }
            v6[Int(s)] = V6Slot(high: addr.high, low: addr.low, seen: now, port: a.endpoint.port)
        }

        // Role: seeders live in 0..<seeders.
        let wasSeeder = p < Int(seeders) && !isNew
        let isSeeder = a.role == .seeder
        if isSeeder && !wasSeeder {
            swapAt(p, Int(seeders), seed: seed)
            p = Int(seeders)
            seeders += 1
            delta.seeders += 1
        } else if !isSeeder && wasSeeder {
            seeders -= 1
            swapAt(p, Int(seeders), seed: seed)
            p = Int(seeders)
            delta.seeders -= 1
        }
        let wasPartial = peers[p].flags & PeerSlot.partialSeed != 0
        if a.role == .partialSeed, !wasPartial {
            peers[p].flags |= PeerSlot.partialSeed
            partialSeeds += 1
        } else if a.role != .partialSeed, wasPartial {
            peers[p].flags &= ~PeerSlot.partialSeed
            partialSeeds -= 1
        }
        if a.countsDownload, peers[p].flags & PeerSlot.downloadCounted == 0 {
            peers[p].flags |= PeerSlot.downloadCounted
            downloaded &+= 1
        }
        return (.recorded(p), delta, past)
    }

    /// `event=stopped`: with the peer's key, removes the peer; from the address an endpoint was
    /// recorded from, removes that endpoint (and the peer, if it has no other live one); from
    /// anyone else, nothing (returns false).
    /// `past` is what the peer was (nil: not held, or gone by expiry).
    mutating func stop(
        _ a: PeerAnnounce, now: UInt32, cutoff: UInt32, seed: UInt64
    ) -> (recorded: Bool, delta: SwarmDelta, past: PeerPast?) {
        guard let p = position(of: a.peerID.raw, user: a.user, seed: seed) else { return (true, SwarmDelta(), nil) }
        guard isLive(p, cutoff: cutoff) else { return (true, remove(at: p, seed: seed), nil) }
        let past = self.past(at: p, family: a.endpoint.address, now: now, cutoff: cutoff)
        if a.key.matches(PeerKey(value: peers[p].key)) { return (true, remove(at: p, seed: seed), past) }
        guard endpoint(at: p, family: a.endpoint.address)?.same == true else { return (false, SwarmDelta(), past) }
        let otherLive: Bool =
            switch a.endpoint.address {
            case .v4: live6(p, cutoff: cutoff)
            case .v6: live4(p, cutoff: cutoff)
            }
        guard otherLive else { return (true, remove(at: p, seed: seed), past) }
        return (true, dropEndpoint(at: p, family: a.endpoint.address), past)
    }

    /// Removes the peer at `p`.
    mutating func remove(at p: Int, seed: UInt64) -> SwarmDelta {
        var delta = SwarmDelta(peers: -1, seeders: 0)
        if peers[p].flags & PeerSlot.hasV4 != 0 {
            delta.v4 = -1
            countSource(Self.source(v4: peers[p].v4), -1)
        }
        if peers[p].v6 >= 0 {
            countSource(Self.source(v6[Int(peers[p].v6)]), -1)
            freeV6(peers[p].v6)
            delta.v6 = -1
        }
        if peers[p].flags & PeerSlot.partialSeed != 0 { partialSeeds -= 1 }
        countUser(peers[p].user, -1)
        if !index.isEmpty { indexDelete(slot: indexSlot(ofPeerAt: p, seed: seed), seed: seed) }
        let last = peers.count - 1
        if p < Int(seeders) {
            // Fill the hole with the last seeder, and that seeder's place with the last peer.
            let lastSeeder = Int(seeders) - 1
            move(from: lastSeeder, to: p, seed: seed)
            move(from: last, to: lastSeeder, seed: seed)
            seeders -= 1
            delta.seeders = -1
        } else {
            move(from: last, to: p, seed: seed)
        }
        peers.removeLast()
        maintainIndex(seed: seed)
        if peers.isEmpty {
            v6 = []
            v6FreeHead = -1
        } else {
            compactV6IfSparse()
        }
        return delta
    }

    /// Drops endpoints last seen at or before `cutoff`, and peers left without one.
    mutating func sweep(cutoff: UInt32, now: UInt32, seed: UInt64) -> SwarmDelta {
        var delta = SwarmDelta()
        var oldest = now
        var p = peers.count - 1
        while p >= 0 {
            var alive = false
            if peers[p].flags & PeerSlot.hasV4 != 0 {
                if peers[p].seen4 <= cutoff {
                    countSource(Self.source(v4: peers[p].v4), -1)
                    peers[p].flags &= ~PeerSlot.hasV4
                    delta.v4 -= 1
                } else {
                    alive = true
                    oldest = min(oldest, peers[p].seen4)
                }
            }
            let s = peers[p].v6
            if s >= 0 {
                if v6[Int(s)].seen <= cutoff {
                    countSource(Self.source(v6[Int(s)]), -1)
                    freeV6(s)
                    peers[p].v6 = -1
                    delta.v6 -= 1
                } else {
                    alive = true
                    oldest = min(oldest, v6[Int(s)].seen)
                }
            }
            if !alive {
                delta += remove(at: p, seed: seed)
                // Whatever moved into p (and into the seeder tail) came from a higher position,
                // which this downward walk has already visited.
            }
            p -= 1
        }
        oldestSeen = peers.isEmpty ? 0 : oldest
        lastSweep = now
        if peers.capacity > 4 * peers.count + 16 { peers = Array(peers) }
        compactV6IfSparse()
        return delta
    }

    /// A uniform random sample of at most `numwant` peers other than `selfPosition`, from
    /// seeders and leechers or from leechers only, seeders first; and how many are seeders.
    /// Cost O(numwant).
    func sample<G: RandomNumberGenerator>(
        numwant: Int, excluding selfPosition: Int, includeSeeders: Bool, cutoff: UInt32, using rng: inout G
    ) -> (peers: [SwarmPeer], seeders: Int) {
        var seedersTaken = 0
        let peers = sampleUnordered(
            numwant: numwant, excluding: selfPosition, includeSeeders: includeSeeders, cutoff: cutoff, seedersTaken: &seedersTaken,
            using: &rng)
        return (peers, seedersTaken)
    }

    private func sampleUnordered<G: RandomNumberGenerator>(
        numwant: Int, excluding selfPosition: Int, includeSeeders: Bool, cutoff: UInt32, seedersTaken: inout Int, using rng: inout G
    ) -> [SwarmPeer] {
        let lo = includeSeeders ? 0 : Int(seeders)
        let hi = peers.count
        let selfInRange = selfPosition >= lo && selfPosition < hi
        let m = hi - lo - (selfInRange ? 1 : 0)
        let k = min(numwant, m)
        guard k > 0 else { return [] }
        var out: [SwarmPeer] = []
        out.reserveCapacity(k)
        @inline(__always) func position(_ v: Int) -> Int {
            let p = lo + v
            return selfInRange && p >= selfPosition ? p + 1 : p
        }
        if k == m {
            for v in 0..<m { appendPeer(at: position(v), cutoff: cutoff, to: &out, seedersTaken: &seedersTaken) }
            return out
        }
        // Floyd's algorithm: k distinct values from 0..<m, remembered in a small hash set.
        var capacity = 16
        while capacity < 2 * k { capacity <<= 1 }
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: capacity) { set in
            set.initialize(repeating: 0)
            let mask = capacity - 1
            func insert(_ v: Int) -> Bool {
                var i = (v &* 0x9E37_79B1) & mask
                while set[i] != 0 {
                    if set[i] == UInt32(v + 1) { return false }
                    i = (i + 1) & mask
                }
                set[i] = UInt32(v + 1)
                return true
            }
            for j in (m - k)..<m {
                let t = Int.random(in: 0...j, using: &rng)
                let v = insert(t) ? t : j
                if v == j { _ = insert(j) }
                appendPeer(at: position(v), cutoff: cutoff, to: &out, seedersTaken: &seedersTaken)
            }
        }
        return out
    }

    /// Appends the peer at `p` (seeders go to the front: the head of `out` holds the
    /// `seedersTaken` seeders).
    private func appendPeer(at p: Int, cutoff: UInt32, to out: inout [SwarmPeer], seedersTaken: inout Int) {
        let slot = peers[p]
        var v4: Endpoint?, v6e: Endpoint?
        if slot.flags & PeerSlot.hasV4 != 0, slot.seen4 > cutoff {
            v4 = Endpoint(address: .v4(IPv4Address(slot.v4)), port: slot.port4)
        }
        if slot.v6 >= 0 {
            let e = v6[Int(slot.v6)]
            if e.seen > cutoff { v6e = Endpoint(address: .v6(IPv6Address(high: e.high, low: e.low)), port: e.port) }
        }
        guard v4 != nil || v6e != nil else { return }
        out.append(SwarmPeer(peerID: PeerID(slot.id), v4: v4, v6: v6e, user: slot.user))
        if p < Int(seeders) {
            if seedersTaken != out.count - 1 { out.swapAt(seedersTaken, out.count - 1) }
            seedersTaken += 1
        }
    }

    var scrapeEntry: ScrapeEntry {
        ScrapeEntry(
            complete: Int(seeders), incomplete: leechers, downloaded: Int(downloaded),
            downloaders: leechers - Int(partialSeeds)
        )
    }
}
