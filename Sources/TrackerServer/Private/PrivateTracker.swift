import Foundation
public import PrivateCore
public import TrackerCore

/// A private tracker's shared state: the registry the site keeps current, and what announces
/// change besides the swarms (each user's peer-list rates and leeching torrents). One per
/// process, read by every event loop in short critical sections.
public final class PrivateTracker: Sendable {
    public let settings: SquallConfig.PrivateSettings
    private let state: Locked<State>
    private let activity: Locked<Activity>

    /// What the site API's `GET /stats` reports: request and announce rates, each an
    /// exponentially decayed count per window divided by the window (UNIT3D-Announce's).
    struct Activity {
        static let windows: [Double] = [1, 10, 60, 900, 7200]
        let createdAt = Date().timeIntervalSince1970
        var lastRequest = 0.0
        var lastAnnounce = 0.0
        var requests = Array(repeating: 0.0, count: windows.count)
        var announces = Array(repeating: 0.0, count: windows.count)

        static func tick(_ counts: inout [Double], last: Double, now: Double) {
            for i in counts.indices { counts[i] = counts[i] * exp(-max(0, now - last) / windows[i]) + 1 }
        }
    }

    struct State: ~Copyable {
        var registry = Registry()
        var seedRates: [UInt32: ListRate] = [:]
        var leechRates: [UInt32: ListRate] = [:]
        /// For users whose group has download slots: the torrents each leeches, with the
        /// (monotonic) second of its last leeching announce there.
        var leeching: [UInt32: [UInt32: UInt32]] = [:]
        var refused = RefusedLists()
    }

    /// Lists refused by the peer-list rate limits, per kind and per window that refused them.
    public struct RefusedLists: Sendable, Equatable {
        public var seed: [Int]
        public var leech: [Int]
        init(seedWindows: Int = 0, leechWindows: Int = 0) {
            (seed, leech) = (Array(repeating: 0, count: seedWindows), Array(repeating: 0, count: leechWindows))
        }
    }

    /// Where applied changes are kept (`private.state_file`), if anywhere.
    private let journal: RegistryJournal?

    public init(settings: SquallConfig.PrivateSettings, registry: Registry = Registry()) {
        self.settings = settings
        journal = nil
        var s = State(registry: registry)
        s.refused = RefusedLists(seedWindows: settings.seedListLimits.count, leechWindows: settings.leechListLimits.count)
        state = Locked(s)
        activity = Locked(Activity())
    }

    // MARK: activity

    /// Every HTTP request (the site API's included).
    func noteRequest() {
        let now = Date().timeIntervalSince1970
        activity.withLock { a in
            Activity.tick(&a.requests, last: a.lastRequest, now: now)
            a.lastRequest = now
        }
    }

    /// Every announce answered in full.
    func noteAnnounce() {
        let now = Date().timeIntervalSince1970
        activity.withLock { a in
            Activity.tick(&a.announces, last: a.lastAnnounce, now: now)
            a.lastAnnounce = now
        }
    }

    /// `GET /stats`: thirteen floats.
    func statsJSON() -> String {
        let a = activity.withLock { $0 }
        var fields = [
            "\"created_at\":\(JSONNumber.float(a.createdAt))", "\"last_request_at\":\(JSONNumber.float(a.lastRequest))",
            "\"last_announce_response_at\":\(JSONNumber.float(a.lastAnnounce))",
        ]
        for (name, counts) in [("requests", a.requests), ("announce_responses", a.announces)] {
            for (i, w) in Activity.windows.enumerated() {
                fields.append("\"\(name)_per_\(Int(w))s\":\(JSONNumber.float(counts[i] / w))")
            }
        }
        return "{" + fields.joined(separator: ",") + "}"
    }

    /// With the registry kept in `private.state_file` (read now).
    public init(settings: SquallConfig.PrivateSettings, stateFile path: String) throws(StateFileError) {
        self.settings = settings
        do {
            journal = try RegistryJournal(path: path)
        } catch {
            throw StateFileError(description: error.description)
        }
        var s = State(registry: journal!.loaded)
        s.refused = RefusedLists(seedWindows: settings.seedListLimits.count, leechWindows: settings.leechListLimits.count)
        state = Locked(s)
        activity = Locked(Activity())
    }

    public struct StateFileError: Error, CustomStringConvertible {
        public var description: String
    }

    // MARK: the registry

    public func apply(_ change: RegistryChange) throws(RegistryChangeError) {
        try state.withLock { (s) throws(RegistryChangeError) in
            try s.registry.apply(change)
            if case .deleteUser(let id, _) = change {
                s.seedRates[id] = nil
                s.leechRates[id] = nil
                s.leeching[id] = nil
            }
            // Under the lock, so the file's order is the order the changes were applied in.
            let registry = s.registry
            journal?.append(change) { registry }
        }
    }

    /// Replaces the whole registry (a load from the site's database).
    public func replace(_ registry: Registry) {
        state.withLock { $0.registry = registry }
    }

    public func read<T>(_ body: (Registry) -> T) -> T {
        state.withLock { body($0.registry) }
    }

    // MARK: announces

    public func check(_ request: AnnounceRequest, facts: PrivateAnnounceFacts) -> PrivateVerdict {
        let rules = settings.rules
        return state.withLock { PrivateRules.check(request, facts: facts, registry: $0.registry, settings: rules) }
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

    /// Notes where a slot-limited user now leeches (or no longer does).
    func noteLeeching(_ admission: PrivateAdmission, leeching: Bool, now: UInt32) {
        guard admission.group.downloadSlots != nil else { return }
        state.withLock { s in
            if leeching {
                s.leeching[admission.user.id, default: [:]][admission.torrent.id] = now
            } else if s.leeching[admission.user.id]?.removeValue(forKey: admission.torrent.id) != nil,
                s.leeching[admission.user.id]?.isEmpty == true
            {
                s.leeching[admission.user.id] = nil
            }
        }
    }

    /// Counts one requested list of seeders (or leechers) for `user` at `now` (Unix seconds)
    /// and says whether it may be sent.
    func mayList(seeders: Bool, user: UInt32, now: Double) -> Bool {
        let limits = seeders ? settings.seedListLimits : settings.leechListLimits
        guard !limits.isEmpty else { return true }
        return state.withLock { s in
            var rate = (seeders ? s.seedRates[user] : s.leechRates[user]) ?? ListRate(windows: limits.count, now: now)
            let before = rate.decayed(limits, to: now)
            let allowed = rate.tick(limits, now: now)
            if seeders { s.seedRates[user] = rate } else { s.leechRates[user] = rate }
            if !allowed, let i = limits.indices.first(where: { before[$0] + 1 > limits[$0].max }) {
                if seeders { s.refused.seed[i] += 1 } else { s.refused.leech[i] += 1 }
            }
            return allowed
        }
    }

    /// A user's list rates, for the site API's `GET /users/{id}`.
    func rates(of user: UInt32) -> (seed: ListRate?, leech: ListRate?) {
        state.withLock { ($0.seedRates[user], $0.leechRates[user]) }
    }

    public var refusedLists: RefusedLists { state.withLock { $0.refused } }

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
