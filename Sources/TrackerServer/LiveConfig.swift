import NIOCore
import TrackerCore

/// The configuration in force, which SIGHUP may replace while serving (`ConfigReloadService`).
/// Requests read `current` once each (a lock held for one reference copy) and use that one
/// snapshot throughout, so a reload never mixes two configurations in one reply; connections
/// read it when they are accepted and keep those limits for their life.
public final class LiveConfig: Sendable {
    /// One configuration and what the hot path derives from it, computed once per reload.
    public final class Current: Sendable {
        public let config: SquallConfig
        let policy: AnnouncePolicy
        let statsHosts: HostRule
        let limits: ConnectionLimits
        init(_ config: SquallConfig) {
            self.config = config
            policy = config.announce.policy
            statsHosts = HostRule(names: config.stats.hosts)
            limits = ConnectionLimits(
                maxHeaderBytes: config.http.maxHeaderBytes,
                idleTimeout: .seconds(Int64(config.http.idleTimeout)),
                headerTimeout: .seconds(Int64(config.http.headerTimeout)),
                writeTimeout: .seconds(Int64(config.http.writeTimeout)),
                maxUnflushedBytes: config.http.maxUnflushedBytes,
                clientHeaders: config.privateMode.enabled,
                forwardingHeaders: !config.trustedProxies.isEmpty
            )
        }
    }

    private let box: Locked<Current>

    public init(_ config: SquallConfig) { box = Locked(Current(config)) }

    public var current: Current { box.withLock { $0 } }

    func replace(with config: SquallConfig) {
        let fresh = Current(config)
        box.withLock { $0 = fresh }
    }
}

extension SquallConfig {
    /// What a reload makes of `fresh` (the file, environment and flags read again) while
    /// `self` serves: the keys that can change live taken from `fresh`, every other key kept
    /// as it runs. `live` names the keys that change; `restart` the keys `fresh` changes that
    /// only a restart applies (listen addresses, storage, threads and the rest), kept.
    public func reloaded(from fresh: SquallConfig) -> (config: SquallConfig, live: [String], restart: [String]) {
        var next = self
        next.logLevel = fresh.logLevel
        next.trustedProxies = fresh.trustedProxies
        // announce.interval too: the stores keep peers for the longest interval told since start
        // (TrackerServer.reconfigure).
        next.announce = fresh.announce
        next.scrape = fresh.scrape
        next.stats.enabled = fresh.stats.enabled
        next.stats.allow = fresh.stats.allow
        next.stats.token = fresh.stats.token
        next.stats.hosts = fresh.stats.hosts
        next.stats.showPeerAddresses = fresh.stats.showPeerAddresses
        next.http.idleTimeout = fresh.http.idleTimeout
        next.http.headerTimeout = fresh.http.headerTimeout
        next.http.writeTimeout = fresh.http.writeTimeout
        next.http.maxUnflushedBytes = fresh.http.maxUnflushedBytes
        next.http.maxConnections = fresh.http.maxConnections
        next.http.maxConnectionsPerSource = fresh.http.maxConnectionsPerSource
        next.https.handshakeTimeout = fresh.https.handshakeTimeout
        // Certificates change live where HTTPS was configured at start (the listeners exist)
        // and the file still names some (serving none needs the listeners closed: a restart).
        if !https.listen.isEmpty || !https.certificates.isEmpty, !fresh.https.certificates.isEmpty {
            next.https.certificates = fresh.https.certificates
        }
        let (before, after, wanted) = (keyLines, next.keyLines, fresh.keyLines)
        let live = after.keys.filter { before[$0] != after[$0] }.sorted()
        let restart = wanted.keys.filter { wanted[$0] != after[$0] }.sorted()
        return (next, live, restart)
    }

    /// Each key of `toml` (as `section.key`) and its printed value: what a reload compares. The
    /// secrets `toml` leaves out are added as a hash of their value, compared and never printed.
    var keyLines: [String: String] {
        var section = ""
        var out: [String: String] = [:]
        for line in toml.split(separator: "\n") {
            if line.hasPrefix("[") {
                section = line.filter { $0 != "[" && $0 != "]" } + "."
            } else if !line.hasPrefix("#"), let eq = line.firstRange(of: " = ") {
                out[section + line[..<eq.lowerBound]] = String(line[eq.upperBound...])
            }
        }
        let secrets: [String: String?] = [
            "stats.token": stats.token, "redis.password": redis.password, "admin.key": admin.key, "storage": storage,
            "private.database_url": privateMode.databaseURL.map { "\($0.user)\u{0}\($0.password ?? "")" },
        ]
        for case let (key, value?) in secrets { out[key, default: ""] += " #\(value.hashValue)" }
        return out
    }
}
