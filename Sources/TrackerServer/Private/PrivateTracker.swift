import Foundation
public import PrivateCore
import Synchronization
public import TrackerCore

#if canImport(Glibc)
    import Glibc
#endif

/// A private tracker's shared state: the registry the site keeps current, and what announces
/// change besides the swarms (each user's peer-list rates and leeching torrents). One per
/// process, read by every event loop in short critical sections.
public final class PrivateTracker: Sendable {
    public let settings: SquallConfig.PrivateSettings
    private let state: Locked<State>
    private let activity = Activity()
    /// Serialises registry changes, so the state file holds them in the order they were applied,
    /// without holding `state` (which every announce takes) across the file's write and sync.
    private let writer = Locked(())

    /// What the site API's `GET /stats` reports: request and announce rates, each an
    /// exponentially decayed count per window divided by the window (UNIT3D-Announce's). Events
    /// are counted with one atomic add; the counts are decayed once per second that saw events
    /// (and when read), not per event.
    final class Activity: Sendable {
        static let windows: [Double] = [1, 10, 60, 900, 7200]
        let createdAt = Date().timeIntervalSince1970
        private let pendingRequests = Atomic<Int>(0)
        private let pendingAnnounces = Atomic<Int>(0)
        /// The whole second last folded.
        private let folded = Atomic<Int>(0)
        private struct Decayed {
            var at = 0.0
            var lastRequest = 0.0
            var lastAnnounce = 0.0
            var requests = Array(repeating: 0.0, count: Activity.windows.count)
            var announces = Array(repeating: 0.0, count: Activity.windows.count)
        }
        private let decayed = Locked(Decayed())

        func note(announce: Bool) {
            if announce { pendingAnnounces.add(1, ordering: .relaxed) } else { pendingRequests.add(1, ordering: .relaxed) }
            // Which second it is, from the kernel's coarse clock (no system call and no
            // Foundation on every request); the fold itself reads the precise time.
            let second = Self.coarseSecond()
            if second != folded.load(ordering: .relaxed) { fold(Date().timeIntervalSince1970, second: second) }
        }

        /// The wall clock's whole second, as the kernel last ticked it (a few milliseconds late).
        static func coarseSecond() -> Int {
            var ts = timespec()
            clock_gettime(CLOCK_REALTIME_COARSE, &ts)
            return Int(ts.tv_sec)
        }

        /// `second`: the coarse second that asked for the fold, so the next event of that
        /// second does not fold again.
        private func fold(_ now: Double, second: Int) {
            folded.store(second, ordering: .relaxed)
            let (r, a) = (pendingRequests.exchange(0, ordering: .relaxed), pendingAnnounces.exchange(0, ordering: .relaxed))
            decayed.withLock { d in
                let dt = max(0, now - d.at)
                for i in Self.windows.indices {
                    let k = exp(-dt / Self.windows[i])
                    d.requests[i] = d.requests[i] * k + Double(r)
                    d.announces[i] = d.announces[i] * k + Double(a)
                }
                d.at = now
                if r > 0 { d.lastRequest = now }
                if a > 0 { d.lastAnnounce = now }
            }
        }

        /// `GET /stats`: thirteen floats.
        func json() -> String {
            fold(Date().timeIntervalSince1970, second: Self.coarseSecond())
            let d = decayed.withLock { $0 }
            var fields = [
                "\"created_at\":\(JSONNumber.float(createdAt))", "\"last_request_at\":\(JSONNumber.float(d.lastRequest))",
                "\"last_announce_response_at\":\(JSONNumber.float(d.lastAnnounce))",
            ]
            for (name, counts) in [("requests", d.requests), ("announce_responses", d.announces)] {
                for (i, w) in Self.windows.enumerated() {
                    fields.append("\"\(name)_per_\(Int(w))s\":\(JSONNumber.float(counts[i] / w))")
                }
            }
            return "{" + fields.joined(separator: ",") + "}"
        }
    }

    struct State: ~Copyable {
        var registry = Registry()
        /// Each user's peer-list rates, both kinds in one entry (an announce asking for both
        /// lists looks its user up once).
        var listRates: [UInt32: UserListRates] = [:]
        /// For users whose group has download slots: the torrents each leeches, with the
        /// (monotonic) second of its last leeching announce there.
        var leeching: [UInt32: [UInt32: UInt32]] = [:]
        var refused = RefusedLists()
        /// Hybrid torrents: each peer's last announce (the hash it came under, the second), for
        /// the second announce of a pair under the torrent's other hash.
        var hybrid: [HybridPeer: (hash: InfoHash, at: UInt32)] = [:]
        /// When the full hybrid table was last pruned (a prune walks it, so at most once a window).
        var hybridPruned: UInt32 = 0
    }

    struct HybridPeer: Hashable {
        var user: UInt32
        var torrent: UInt32
        var peer: PeerID
    }

    /// The most hybrid peers remembered at once; past it a pair is not recognised (its second
    /// announce is treated as any other), so no client can grow the table without bound.
    let maxHybridPeers: Int

    /// Lists refused by the peer-list rate limits, per kind and per window that refused them.
    struct RefusedLists: Sendable, Equatable {
        var seed: [Int]
        var leech: [Int]
        init(seedWindows: Int = 0, leechWindows: Int = 0) {
            (seed, leech) = (Array(repeating: 0, count: seedWindows), Array(repeating: 0, count: leechWindows))
        }
    }

    /// Where applied changes are kept (`private.state_file`), if anywhere.
    private let journal: RegistryJournal?

    /// What credits announces (`accounting.sink`), if anything.
    public let accounting: Accounting?

    public convenience init(settings: SquallConfig.PrivateSettings, registry: Registry = Registry(), accounting: Accounting? = nil) {
        self.init(settings: settings, registry: registry, journal: nil, accounting: accounting)
    }

    /// `maxHybridPeers` is a parameter for the bound's test.
    init(
        settings: SquallConfig.PrivateSettings, registry: Registry, journal: RegistryJournal?, accounting: Accounting? = nil,
        maxHybridPeers: Int = 1_000_000
    ) {
        self.settings = settings
        self.accounting = accounting
        self.maxHybridPeers = maxHybridPeers
        self.journal = journal
        var s = State(registry: registry)
        s.refused = RefusedLists(seedWindows: settings.seedListLimits.count, leechWindows: settings.leechListLimits.count)
        state = Locked(s)
    }

    // MARK: activity

    /// Every HTTP request (the site API's included).
    func noteRequest() { activity.note(announce: false) }

    /// Every announce answered in full.
    func noteAnnounce() { activity.note(announce: true) }

    /// `GET /stats`: thirteen floats.
    func statsJSON() -> String { activity.json() }

    /// With the registry kept in `private.state_file` (read now).
    public convenience init(
        settings: SquallConfig.PrivateSettings, stateFile path: String, accounting: Accounting? = nil
    ) throws(StateFileError) {
        let journal: RegistryJournal
        do {
            journal = try RegistryJournal(path: path)
        } catch {
            throw StateFileError(description: error.description)
        }
        self.init(settings: settings, registry: journal.loaded, journal: journal, accounting: accounting)
    }

    public struct StateFileError: Error, CustomStringConvertible {
        public var description: String
    }

    // MARK: the registry

    public func apply(_ change: RegistryChange) throws(RegistryChangeError) {
        try writer.withLock { (_) throws(RegistryChangeError) in
            try state.withLock { (s) throws(RegistryChangeError) in
                try s.registry.apply(change)
                if case .deleteUser(let id, _) = change {
                    s.listRates[id] = nil
                    s.leeching[id] = nil
                }
            }
            journal?.append(change) { read { $0 } }
        }
    }

    public func read<T>(_ body: (Registry) -> T) -> T {
        state.withLock { body($0.registry) }
    }

    // MARK: announces

    /// UNIT3D-Announce's rules against the registry and, for an admitted announce with the
    /// accounting on, the factors it is credited at (one look at the registry for both).
    public func check(_ request: AnnounceRequest, facts: PrivateAnnounceFacts) -> (verdict: PrivateVerdict, factors: Factors?) {
        let rules = settings.rules
        let factorSettings = accounting?.settings.factors
        return state.withLock { s in
            let verdict = PrivateRules.check(request, facts: facts, registry: s.registry, settings: rules)
            guard let factorSettings, case .admitted(let a) = verdict else { return (verdict, nil) }
            return (verdict, Factors(user: a.user, group: a.group, torrent: a.torrent, registry: s.registry, settings: factorSettings))
        }
    }

    /// Whether an announce of `user` leeching `torrent` may add a new peer under its group's
    /// download slots: a torrent the user already leeches always may. Leeching torrents not
    /// announced for `ttl` seconds no longer count.
    func mayAddLeecher(_ admission: PrivateAdmission, now: UInt32, ttl: UInt32) -> Bool {
        guard let slots = admission.group.downloadSlots else { return true }
        return state.withLock { s in
            var torrents = s.leeching[admission.user.id] ?? [:]
            if torrents[admission.torrent.id] != nil { return true }
            torrents = torrents.filter { now &- $0.value < ttl }
            s.leeching[admission.user.id] = torrents.isEmpty ? nil : torrents
            return torrents.count < Int(slots)
        }
    }

    /// Notes where a slot-limited user now leeches (or no longer does), by the torrent's hash
    /// (a hybrid torrent's two hashes are one torrent).
    func noteLeeching(user: UInt32, torrent hash: InfoHash, leeching: Bool, now: UInt32) {
        state.withLock { s in
            guard let torrent = s.registry.hashes[hash] else { return }
            if leeching {
                s.leeching[user, default: [:]][torrent] = now
            } else if s.leeching[user]?.removeValue(forKey: torrent) != nil, s.leeching[user]?.isEmpty == true {
                s.leeching[user] = nil
            }
        }
    }

    /// Whether an announce of a hybrid torrent under `hash` is the second of a pair: the same
    /// user's same peer_id announced the torrent's other hash within `window` seconds. Notes this
    /// announce either way.
    func isHybridPair(user: UInt32, torrent: UInt32, peer: PeerID, hash: InfoHash, now: UInt32, window: Int) -> Bool {
        let key = HybridPeer(user: user, torrent: torrent, peer: peer)
        return state.withLock { s in
            let last = s.hybrid[key]
            if last == nil, s.hybrid.count >= maxHybridPeers {
                // Full: forget what is past the window (a walk of the table, so at most once a
                // window); if still full, remember nothing new.
                if now &- s.hybridPruned > UInt32(clamping: window) {
                    s.hybrid = s.hybrid.filter { now &- $0.value.at <= UInt32(clamping: window) }
                    s.hybridPruned = now
                }
                if s.hybrid.count >= maxHybridPeers { return false }
            }
            s.hybrid[key] = (hash, now)
            guard let last else { return false }
            return last.hash != hash && now &- last.at <= UInt32(clamping: window)
        }
    }

    /// Hybrid peers remembered now (for the bound's test).
    var hybridPeers: Int { state.withLock { $0.hybrid.count } }

    /// One user's peer-list rates: a kind is made when the user first asks for its list.
    struct UserListRates {
        var seed: ListRate?
        var leech: ListRate?
    }

    /// Counts the lists an announce asks for, a list of seeders and (or) one of leechers, for
    /// `user` at `now` (Unix seconds), and says which may be sent (a list not asked for may).
    func mayList(seeders: Bool, leechers: Bool, user: UInt32, now: Double) -> (seeders: Bool, leechers: Bool) {
        let (seedLimits, leechLimits) = (settings.seedListLimits, settings.leechListLimits)
        let (countSeeders, countLeechers) = (seeders && !seedLimits.isEmpty, leechers && !leechLimits.isEmpty)
        guard countSeeders || countLeechers else { return (true, true) }
        return state.withLock { s in
            // Counted in place: a copy out of the dictionary would copy the counts' storage too
            // (`default:` is built only for a user not seen yet).
            var (seedRefusedBy, leechRefusedBy): (Int?, Int?) = (nil, nil)
            s.listRates[user, default: UserListRates()].count(
                seeders: countSeeders ? seedLimits : nil, leechers: countLeechers ? leechLimits : nil, now: now,
                refusedBy: &seedRefusedBy, &leechRefusedBy)
            if let i = seedRefusedBy { s.refused.seed[i] += 1 }
            if let i = leechRefusedBy { s.refused.leech[i] += 1 }
            return (seedRefusedBy == nil, leechRefusedBy == nil)
        }
    }

    /// A user's list rates, for the site API's `GET /users/{id}`.
    func rates(of user: UInt32) -> (seed: ListRate?, leech: ListRate?) {
        state.withLock { s in s.listRates[user].map { ($0.seed, $0.leech) } ?? (nil, nil) }
    }

    /// `/stats.json`'s `private` object: the registry's sizes and, per peer-list rate limit, its
    /// window, its maximum and the lists it refused since start (to tune them without guessing).
    func summaryJSON() -> String {
        let (counts, refused) = state.withLock { ($0.registry.counts, $0.refused) }
        func limits(_ l: [ListRateLimit], _ n: [Int]) -> String {
            "["
                + zip(l, n).map { "{\"window\":\(JSONNumber.float($0.window)),\"max\":\(JSONNumber.float($0.max)),\"refused\":\($1)}" }
                .joined(separator: ",") + "]"
        }
        return "{\"users\":\(counts.users),\"torrents\":\(counts.torrents),\"groups\":\(counts.groups),"
            + "\"list_rate_limits\":{\"seed\":\(limits(settings.seedListLimits, refused.seed)),\"leech\":\(limits(settings.leechListLimits, refused.leech))}}"
    }
}

extension PrivateTracker.UserListRates {
    /// Counts a list of each kind given limits for (nil: not asked for), saying which window
    /// refused each (nil: allowed).
    fileprivate mutating func count(
        seeders seedLimits: [ListRateLimit]?, leechers leechLimits: [ListRateLimit]?, now: Double, refusedBy seedRefusedBy: inout Int?,
        _ leechRefusedBy: inout Int?
    ) {
        if let limits = leechLimits {
            if leech == nil { leech = ListRate(windows: limits.count, now: now) }
            leechRefusedBy = leech!.count(limits, now: now)
        }
        if let limits = seedLimits {
            if seed == nil { seed = ListRate(windows: limits.count, now: now) }
            seedRefusedBy = seed!.count(limits, now: now)
        }
    }
}
