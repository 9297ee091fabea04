import Foundation
public import MemoryStore
public import RedisStore
import TOMLKit
public import TrackerCore

/// Everything Squall can be told, with its defaults. Flags override the file; the file
/// overrides these defaults. Every key is documented in `Config/squall.toml`.
public struct SquallConfig: Sendable, Equatable {
    /// `log_level`: trace, debug, info, notice, warning, error or critical.
    public var logLevel = "info"
    /// `log_format`: auto (journald when standard error is the journal, else text), text,
    /// journald or json.
    public var logFormat = LogFormat.auto
    /// `storage`: where swarms live. `memory` (the embedded default), `redis://[user:password@]host:port[/db]`
    /// or `unix:///path/redis.sock[?db=N]`.
    public var storage = "memory"
    /// `trusted_proxies`: address blocks (CIDR) of proxies whose `X-Forwarded-For` and
    /// `X-Real-IP` name the client; empty (the default) trusts nobody.
    public var trustedProxies: [AddressRange] = []
    public var http = HTTPSettings()
    public var https = HTTPSSettings()
    public var announce = AnnounceSettings()
    public var scrape = ScrapeSettings()
    public var memory = MemorySettings()
    public var redis = RedisSettings()
    public var stats = StatsSettings()
    public var metrics = MetricsSettings()
    /// `[private]` (`private` is a Swift keyword, hence the name).
    public var privateMode = PrivateSettings()
    public var admin = AdminSettings()
    public var accounting = AccountingSettings()

    public init() {}

    public struct MetricsSettings: Sendable, Equatable {
        /// `metrics.listen`: extra plain-HTTP listeners that serve `/metrics`, `/health` and
        /// `/ready` only, to whoever reaches them (a monitoring network), so `stats.allow` need
        /// not widen; `stats.token` still applies. Empty: none.
        public var listen: [ListenAddress] = []
    }

    public struct StatsSettings: Sendable, Equatable {
        /// `stats.enabled`: serve the statistics page, its JSON and `/metrics`.
        public var enabled = true
        /// `stats.allow`: address blocks that may read them (CIDR); others get 403.
        public var allow = AddressRange.loopback
        /// `stats.token`: when set, requests must also send `Authorization: Bearer TOKEN`.
        public var token: String?
        /// `stats.hosts`: host names the statistics and metrics answer to besides `localhost`
        /// and address literals; any other `Host` gets 403 (no DNS rebinding).
        public var hosts: [String] = []
        /// `stats.show_peer_addresses`: show peers' IP addresses in the detail view.
        public var showPeerAddresses = false
        /// `stats.assets_dir`: where jQuery, DataTables and Chart.js are (Debian's libjs-* packages).
        public var assetsDirectory = "/usr/share/javascript"
    }

    public struct HTTPSettings: Sendable, Equatable {
        /// `http.listen`: addresses for plain HTTP. `[::]:6969` is one dual-stack socket.
        public var listen = [ListenAddress(host: "::", port: 6969)]
        /// `http.idle_timeout`: seconds a keep-alive connection may sit idle.
        public var idleTimeout = 60
        /// `http.header_timeout`: seconds a client has to finish sending a request head.
        public var headerTimeout = 10
        /// `http.max_header_bytes`: the largest request line plus headers accepted.
        public var maxHeaderBytes = 8192
        /// `http.max_connections`: simultaneous connections; more are closed on accept.
        public var maxConnections = 10_000
        /// `http.max_connections_per_source`: simultaneous connections from one IPv4 address or
        /// one IPv6 /64; more are closed on accept. 0 means no limit.
        public var maxConnectionsPerSource = 256
        /// `http.write_timeout`: seconds a reply waiting for the client to read it may go without
        /// any of it being sent; then the connection is closed.
        public var writeTimeout = 10
        /// `http.max_unflushed_bytes`: output that may wait for a client to read it; a connection
        /// past it is closed instead of being sent more.
        public var maxUnflushedBytes = 262_144
        /// `http.threads`: event-loop threads; 0 means one per CPU this process may run on.
        public var threads = 0

        /// The event-loop thread count in effect.
        public var effectiveThreads: Int { threads > 0 ? threads : allowedCPUCount() }
    }

    public struct HTTPSSettings: Sendable, Equatable {
        /// `https.listen`: addresses for HTTPS; empty serves no HTTPS.
        public var listen: [ListenAddress] = []
        /// `https.handshake_timeout`: seconds a client has to complete the TLS handshake.
        public var handshakeTimeout = 10
        /// `https.certificates`: PEM certificate chains and keys; the first is the default, the
        /// others are chosen by SNI.
        public var certificates: [CertificatePair] = []

        /// `certificates` as the TLS contexts take them.
        public var certificateFiles: [(certificate: String, key: String)] { certificates.map { ($0.cert, $0.key) } }
    }

    /// A certificate chain file and its private key file.
    public struct CertificatePair: Sendable, Equatable {
        public var cert: String
        public var key: String
        public init(cert: String, key: String) { (self.cert, self.key) = (cert, key) }
    }

    public struct AnnounceSettings: Sendable, Equatable {
        /// `announce.interval`: seconds clients are told to wait between announces.
        public var interval = 1800
        /// `announce.min_interval`: seconds clients must wait at least; default half the interval.
        public var minInterval: Int?
        /// `announce.default_numwant`: peers returned when a client sends no numwant.
        public var defaultNumwant = 50
        /// `announce.max_numwant`: the most peers one reply carries.
        public var maxNumwant = 200
        /// `announce.max_peers_per_source`: endpoints one IPv4 address or IPv6 /64 may hold in
        /// one torrent (0: no limit).
        public var maxPeersPerSource = 64
        /// `announce.max_new_torrents_per_source`: torrents one source may create a minute (0: no
        /// limit).
        public var maxNewTorrentsPerSource = 1000
        /// `announce.quota_exempt`: sources held to neither quota (default loopback: a reverse
        /// proxy on the same host, local monitoring).
        public var quotaExempt = AddressRange.loopback

        public init() {}

        public var policy: AnnouncePolicy {
            AnnouncePolicy(
                interval: interval, minInterval: minInterval ?? interval / 2, defaultNumwant: defaultNumwant, maxNumwant: maxNumwant)
        }
    }

    public struct ScrapeSettings: Sendable, Equatable {
        /// `scrape.max_hashes`: info_hashes one scrape may name.
        public var maxHashes = 64
        /// `scrape.full_scrape`: allow `/scrape` without info_hash (every torrent).
        public var fullScrape = false
        /// `scrape.full_scrape_limit`: the most torrents a full scrape returns.
        public var fullScrapeLimit = 100_000

        public init() {}
    }

    public struct RedisSettings: Sendable, Equatable {
        /// `redis.connections`: connections to Redis per event loop; each pipelines its loop's commands.
        public var connections = 1
        /// `redis.timeout_ms`: command timeout; announces fail with "storage unavailable" after it.
        public var timeoutMilliseconds = 1000
        /// `redis.connect_timeout_ms`: how long one connection attempt may take.
        public var connectTimeoutMilliseconds = 1000
        /// `redis.prefix`: the start of every key, so several trackers can share one Redis.
        public var prefix = "squall:"
        /// `redis.username`, `redis.password`: AUTH (an ACL user, or the password alone); the URL's win.
        public var username: String?
        public var password: String?
    }

    /// The Redis options in effect when `storage` is a Redis URL.
    public var redisOptions: RedisOptions? {
        guard var o = RedisOptions(url: storage) else { return nil }
        o.username = o.username ?? redis.username
        o.password = o.password ?? redis.password
        o.prefix = redis.prefix
        o.connections = redis.connections
        o.timeout = .milliseconds(redis.timeoutMilliseconds)
        o.connectTimeout = .milliseconds(redis.connectTimeoutMilliseconds)
        o.users = privateMode.enabled
        return o
    }

    public struct MemorySettings: Sendable, Equatable {
        /// `memory.max_torrents`: torrents tracked at once.
        public var maxTorrents = 1_000_000
        /// `memory.max_peers_per_torrent`: peers one torrent holds.
        public var maxPeersPerTorrent = 100_000
        /// `memory.max_peers`: peers the memory store holds in all.
        public var maxPeers = 10_000_000
        /// `memory.snapshot_file`: where the memory store writes its swarms on graceful stop
        /// and reads them back at start (then removes the file), so a planned restart keeps
        /// them; what expired meanwhile is dropped. Unset: swarms are not kept.
        public var snapshotFile: String?
        public var limits: MemoryStoreLimits {
            MemoryStoreLimits(maxTorrents: maxTorrents, maxPeersPerTorrent: maxPeersPerTorrent, maxPeers: maxPeers)
        }
    }
}

/// A configuration mistake; `description` is the one line printed before exiting.
public struct ConfigError: Error, Equatable, CustomStringConvertible {
    public var key: String
    public var problem: String
    public init(key: String, _ problem: String) { (self.key, self.problem) = (key, problem) }
    public var description: String { "\(key): \(problem)" }
}

extension SquallConfig {
    static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// Applies the keys of a TOML document. Unknown keys and wrong types are errors naming the key.
    public mutating func apply(toml text: String, source: String = "config") throws(ConfigError) {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let e as TOMLParseError {
            throw ConfigError(key: source, "line \(e.source.begin.line): \(e.description)")
        } catch {
            throw ConfigError(key: source, "\(error)")
        }
        var r = TableReader(table: table, prefix: "")
        if let v = try r.string("log_level") { logLevel = v }
        if let v = try r.string("log_format") {
            guard let f = LogFormat(rawValue: v) else {
                throw ConfigError(key: "log_format", "must be one of \(LogFormat.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            logFormat = f
        }
        if let v = try r.string("storage") { storage = v }
        if let list = try r.stringArray("trusted_proxies") { trustedProxies = try Self.ranges(list, key: "trusted_proxies") }
        if var t = try r.table("http") {
            if let list = try t.listeners("listen") { http.listen = list }
            if let v = try t.int("idle_timeout") { http.idleTimeout = v }
            if let v = try t.int("header_timeout") { http.headerTimeout = v }
            if let v = try t.int("max_header_bytes") { http.maxHeaderBytes = v }
            if let v = try t.int("max_connections") { http.maxConnections = v }
            if let v = try t.int("max_connections_per_source") { http.maxConnectionsPerSource = v }
            if let v = try t.int("write_timeout") { http.writeTimeout = v }
            if let v = try t.int("max_unflushed_bytes") { http.maxUnflushedBytes = v }
            if let v = try t.int("threads") { http.threads = v }
            try t.finish()
        }
        if var t = try r.table("https") {
            if let list = try t.listeners("listen") { https.listen = list }
            if let v = try t.int("handshake_timeout") { https.handshakeTimeout = v }
            if let pairs = try t.tableArray("certificates") {
                https.certificates = try pairs.map { (pair) throws(ConfigError) in
                    var p = pair
                    guard let cert = try p.string("cert"), let key = try p.string("key") else {
                        throw ConfigError(key: "https.certificates", "each entry needs cert and key")
                    }
                    try p.finish()
                    return CertificatePair(cert: cert, key: key)
                }
            }
            try t.finish()
        }
        if var t = try r.table("announce") {
            if let v = try t.int("interval") { announce.interval = v }
            if let v = try t.int("min_interval") { announce.minInterval = v }
            if let v = try t.int("default_numwant") { announce.defaultNumwant = v }
            if let v = try t.int("max_numwant") { announce.maxNumwant = v }
            if let v = try t.int("max_peers_per_source") { announce.maxPeersPerSource = v }
            if let v = try t.int("max_new_torrents_per_source") { announce.maxNewTorrentsPerSource = v }
            if let list = try t.stringArray("quota_exempt") { announce.quotaExempt = try Self.ranges(list, key: "announce.quota_exempt") }
            try t.finish()
        }
        if var t = try r.table("scrape") {
            if let v = try t.int("max_hashes") { scrape.maxHashes = v }
            if let v = try t.bool("full_scrape") { scrape.fullScrape = v }
            if let v = try t.int("full_scrape_limit") { scrape.fullScrapeLimit = v }
            try t.finish()
        }
        if var t = try r.table("redis") {
            if let v = try t.int("connections") { redis.connections = v }
            if let v = try t.int("timeout_ms") { redis.timeoutMilliseconds = v }
            if let v = try t.int("connect_timeout_ms") { redis.connectTimeoutMilliseconds = v }
            if let v = try t.string("prefix") { redis.prefix = v }
            if let v = try t.string("username") { redis.username = v }
            if let v = try t.secret("password") { redis.password = v }
            try t.finish()
        }
        if var t = try r.table("stats") {
            if let v = try t.bool("enabled") { stats.enabled = v }
            if let list = try t.stringArray("allow") { stats.allow = try Self.ranges(list, key: "stats.allow") }
            if let list = try t.stringArray("hosts") {
                stats.hosts = try list.map { (text) throws(ConfigError) in
                    guard HostRule.name(Array(text.utf8)) != nil, !text.contains(":") else {
                        throw ConfigError(key: "stats.hosts", "'\(text)' is not a host name such as tracker.example.org")
                    }
                    return text.lowercased()
                }
            }
            if let v = try t.bool("show_peer_addresses") { stats.showPeerAddresses = v }
            if let v = try t.string("assets_dir") { stats.assetsDirectory = v }
            if let v = try t.secret("token") {
                guard !v.isEmpty, v.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                    throw ConfigError(key: "stats.token", "must be printable ASCII without spaces")
                }
                stats.token = v
            }
            try t.finish()
        }
        if var t = try r.table("metrics") {
            if let list = try t.stringArray("listen") {
                metrics.listen = try ListenAddress.parseList(list, key: "metrics.listen", form: "HOST:PORT")
            }
            try t.finish()
        }
        if var t = try r.table("memory") {
            if let v = try t.int("max_torrents") { memory.maxTorrents = v }
            if let v = try t.int("max_peers_per_torrent") { memory.maxPeersPerTorrent = v }
            if let v = try t.int("max_peers") { memory.maxPeers = v }
            if let v = try t.string("snapshot_file") { memory.snapshotFile = v.isEmpty ? nil : v }
            try t.finish()
        }
        try applyPrivate(&r)
        try applyAccounting(&r)
        try r.finish()
    }

    private static func ranges(_ list: [String], key: String) throws(ConfigError) -> [AddressRange] {
        try list.map { (text) throws(ConfigError) in
            guard let range = AddressRange(text) else {
                throw ConfigError(key: key, "'\(text)' is not an address or CIDR block such as 10.0.0.0/8 or ::1/128")
            }
            return range
        }
    }

    /// Checks ranges and combinations; the first problem found names its key.
    public func validate() throws(ConfigError) {
        guard Self.logLevels.contains(logLevel) else {
            throw ConfigError(key: "log_level", "must be one of \(Self.logLevels.joined(separator: ", "))")
        }
        guard storage == "memory" || RedisOptions(url: storage) != nil else {
            throw ConfigError(
                key: "storage",
                "'\(redactedStorage)' is not memory, redis://[user:password@]host:port[/db], unix:///path[?db=N] or redis+cluster://[user:password@]host:port[,host:port...]"
            )
        }
        try positive(redis.connections, "redis.connections", max: 64)
        try positive(redis.timeoutMilliseconds, "redis.timeout_ms", max: 600_000)
        try positive(redis.connectTimeoutMilliseconds, "redis.connect_timeout_ms", max: 600_000)
        guard !http.listen.isEmpty else { throw ConfigError(key: "http.listen", "needs at least one address") }
        for (key, list) in [("http.listen", http.listen), ("https.listen", https.listen)] where trustedProxies.isEmpty {
            guard let a = list.first(where: \.proxyProtocol) else { continue }
            throw ConfigError(key: key, "\(a) takes PROXY protocol headers, but trusted_proxies names no proxy to take them from")
        }
        func positive(_ v: Int, _ key: String, max: Int = Int(Int32.max)) throws(ConfigError) {
            guard v >= 1, v <= max else { throw ConfigError(key: key, "must be between 1 and \(max)") }
        }
        try positive(http.idleTimeout, "http.idle_timeout", max: 86_400)
        try positive(http.headerTimeout, "http.header_timeout", max: 3600)
        guard (512...1_048_576).contains(http.maxHeaderBytes) else {
            throw ConfigError(key: "http.max_header_bytes", "must be between 512 and 1048576")
        }
        try positive(http.maxConnections, "http.max_connections", max: 10_000_000)
        guard (0...10_000_000).contains(http.maxConnectionsPerSource) else {
            throw ConfigError(key: "http.max_connections_per_source", "must be between 0 (no limit) and 10000000")
        }
        try positive(http.writeTimeout, "http.write_timeout", max: 3600)
        guard (65_536...1_073_741_824).contains(http.maxUnflushedBytes) else {
            throw ConfigError(key: "http.max_unflushed_bytes", "must be between 65536 and 1073741824")
        }
        guard (0...1024).contains(http.threads) else { throw ConfigError(key: "http.threads", "must be between 0 and 1024") }
        try positive(https.handshakeTimeout, "https.handshake_timeout", max: 600)
        if !https.listen.isEmpty, https.certificates.isEmpty {
            throw ConfigError(key: "https.certificates", "https.listen is set but no certificate is configured")
        }
        try positive(announce.interval, "announce.interval", max: 86_400)
        if let m = announce.minInterval {
            guard m >= 0, m <= announce.interval else {
                throw ConfigError(key: "announce.min_interval", "must be between 0 and announce.interval (\(announce.interval))")
            }
        }
        try positive(announce.maxNumwant, "announce.max_numwant", max: 10_000)
        guard announce.defaultNumwant >= 0, announce.defaultNumwant <= announce.maxNumwant else {
            throw ConfigError(key: "announce.default_numwant", "must be between 0 and announce.max_numwant (\(announce.maxNumwant))")
        }
        guard (0...65_535).contains(announce.maxPeersPerSource) else {
            throw ConfigError(key: "announce.max_peers_per_source", "must be between 0 (no limit) and 65535")
        }
        guard (0...1_000_000).contains(announce.maxNewTorrentsPerSource) else {
            throw ConfigError(key: "announce.max_new_torrents_per_source", "must be between 0 (no limit) and 1000000")
        }
        try positive(scrape.maxHashes, "scrape.max_hashes", max: 10_000)
        try positive(scrape.fullScrapeLimit, "scrape.full_scrape_limit", max: 100_000_000)
        try positive(memory.maxTorrents, "memory.max_torrents", max: 1_000_000_000)
        try positive(memory.maxPeersPerTorrent, "memory.max_peers_per_torrent", max: 100_000_000)
        try positive(memory.maxPeers, "memory.max_peers", max: 10_000_000_000)
        try validatePrivate()
        try validateAccounting()
    }

    /// `storage` with any password in a Redis URL replaced by `***`.
    public var redactedStorage: String {
        guard let scheme = ["redis://", "redis+cluster://"].first(where: storage.hasPrefix), let at = storage.lastIndex(of: "@")
        else { return storage }
        let credentials = storage[storage.index(storage.startIndex, offsetBy: scheme.count)..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return scheme + "***" + storage[at...] }
        return scheme + credentials[..<colon] + ":***" + storage[at...]
    }

    /// The effective configuration as TOML; `apply(toml:)` of it gives back the same config.
    public var toml: String {
        func q(_ s: String) -> String {
            "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        func listen(_ l: [ListenAddress]) -> String {
            "listen = ["
                + l.map { $0.proxyProtocol ? "{ address = \(q($0.description)), proxy_protocol = true }" : q($0.description) }
                .joined(separator: ", ") + "]"
        }
        var lines = [
            "log_level = \(q(logLevel))",
            "log_format = \(q(logFormat.rawValue))",
            "storage = \(q(redactedStorage))",
            "trusted_proxies = [\(trustedProxies.map { q($0.description) }.joined(separator: ", "))]",
            "",
            "[http]",
            listen(http.listen),
            "idle_timeout = \(http.idleTimeout)",
            "header_timeout = \(http.headerTimeout)",
            "max_header_bytes = \(http.maxHeaderBytes)",
            "max_connections = \(http.maxConnections)",
            "max_connections_per_source = \(http.maxConnectionsPerSource)",
            "write_timeout = \(http.writeTimeout)",
            "max_unflushed_bytes = \(http.maxUnflushedBytes)",
            "threads = \(http.threads)",
            "",
            "[https]",
            listen(https.listen),
            "handshake_timeout = \(https.handshakeTimeout)",
            "certificates = [\(https.certificates.map { "{ cert = \(q($0.cert)), key = \(q($0.key)) }" }.joined(separator: ", "))]",
            "",
            "[announce]",
            "interval = \(announce.interval)",
        ]
        lines.append("min_interval = \(announce.minInterval ?? announce.interval / 2)")
        lines += [
            "default_numwant = \(announce.defaultNumwant)",
            "max_numwant = \(announce.maxNumwant)",
            "max_peers_per_source = \(announce.maxPeersPerSource)",
            "max_new_torrents_per_source = \(announce.maxNewTorrentsPerSource)",
            "quota_exempt = [\(announce.quotaExempt.map { q($0.description) }.joined(separator: ", "))]",
            "",
            "[scrape]",
            "max_hashes = \(scrape.maxHashes)",
            "full_scrape = \(scrape.fullScrape)",
            "full_scrape_limit = \(scrape.fullScrapeLimit)",
            "",
            "[redis]",
            "connections = \(redis.connections)",
            "timeout_ms = \(redis.timeoutMilliseconds)",
            "connect_timeout_ms = \(redis.connectTimeoutMilliseconds)",
            "prefix = \(q(redis.prefix))",
        ]
        if let u = redis.username { lines.append("username = \(q(u))") }
        if redis.password != nil { lines.append("# password is set (not shown)") }
        lines += [
            "",
            "[stats]",
            "enabled = \(stats.enabled)",
            "allow = [\(stats.allow.map { q($0.description) }.joined(separator: ", "))]",
            "hosts = [\(stats.hosts.map(q).joined(separator: ", "))]",
            "show_peer_addresses = \(stats.showPeerAddresses)",
            "assets_dir = \(q(stats.assetsDirectory))",
        ]
        if stats.token != nil { lines.append("# token is set (not shown)") }
        lines += [
            "",
            "[metrics]",
            "listen = [\(metrics.listen.map { q($0.description) }.joined(separator: ", "))]",
            "",
            "[memory]",
            "max_torrents = \(memory.maxTorrents)",
            "max_peers_per_torrent = \(memory.maxPeersPerTorrent)",
            "max_peers = \(memory.maxPeers)",
        ]
        if let f = memory.snapshotFile { lines.append("snapshot_file = \(q(f))") }
        lines += privateTOML
        if privateMode.enabled { lines += accountingTOML }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Reads typed keys from one TOML table and remembers which it read, so `finish()` can name
/// the first key nobody asked for.
struct TableReader {
    let table: TOMLTable
    let prefix: String
    var used: Set<String> = []

    init(table: TOMLTable, prefix: String) { (self.table, self.prefix) = (table, prefix) }

    private mutating func value(_ key: String) -> (any TOMLValueConvertible)? {
        used.insert(key)
        return table[key]
    }
    private func wrong(_ key: String, _ type: String) -> ConfigError {
        ConfigError(key: prefix + key, "must be \(type)")
    }
    mutating func string(_ key: String) throws(ConfigError) -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v.string else { throw wrong(key, "a string") }
        return s
    }
    mutating func int(_ key: String) throws(ConfigError) -> Int? {
        guard let v = value(key) else { return nil }
        guard v.type == .int, let i = v.int else { throw wrong(key, "an integer") }
        return i
    }
    mutating func bool(_ key: String) throws(ConfigError) -> Bool? {
        guard let v = value(key) else { return nil }
        guard let b = v.bool else { throw wrong(key, "true or false") }
        return b
    }
    mutating func stringArray(_ key: String) throws(ConfigError) -> [String]? {
        guard let v = value(key) else { return nil }
        guard let a = v.array else { throw wrong(key, "an array of strings") }
        var out: [String] = []
        for item in a {
            guard let s = item.string else { throw wrong(key, "an array of strings") }
            out.append(s)
        }
        return out
    }
    /// A secret given in the file (`name`) or as the first line of another (`name_file`), not both.
    mutating func secret(_ name: String) throws(ConfigError) -> String? {
        let inline = try string(name)
        let file = try SquallConfig.secretFile(try string(name + "_file"), key: prefix + name + "_file")
        if inline != nil, file != nil { throw ConfigError(key: prefix + name, "give \(name) or \(name)_file, not both") }
        return inline ?? file
    }
    /// Listen addresses: each `"HOST:PORT"` (or `"[V6]:PORT"`) or
    /// `{ address = "HOST:PORT", proxy_protocol = true }`.
    mutating func listeners(_ key: String) throws(ConfigError) -> [ListenAddress]? {
        guard let v = value(key) else { return nil }
        let form = "an array of \"HOST:PORT\" or { address = \"HOST:PORT\", proxy_protocol = true }"
        guard let a = v.array else { throw wrong(key, form) }
        var out: [ListenAddress] = []
        for (i, item) in a.enumerated() {
            var text = item.string
            var proxy = false
            if let t = item.table {
                var entry = TableReader(table: t, prefix: prefix + key + "[\(i)].")
                text = try entry.string("address")
                proxy = try entry.bool("proxy_protocol") ?? false
                try entry.finish()
                guard text != nil else { throw ConfigError(key: prefix + key + "[\(i)]", "needs address") }
            }
            guard let text else { throw wrong(key, form) }
            guard var address = ListenAddress(text) else {
                throw ConfigError(key: prefix + key, "'\(text)' is not HOST:PORT or [V6]:PORT")
            }
            address.proxyProtocol = proxy
            out.append(address)
        }
        return out
    }
    mutating func tableArray(_ key: String) throws(ConfigError) -> [TableReader]? {
        guard let v = value(key) else { return nil }
        guard let a = v.array else { throw wrong(key, "an array of tables") }
        var out: [TableReader] = []
        for (i, item) in a.enumerated() {
            guard let t = item.table else { throw wrong(key, "an array of tables") }
            out.append(TableReader(table: t, prefix: prefix + key + "[\(i)]."))
        }
        return out
    }
    mutating func table(_ key: String) throws(ConfigError) -> TableReader? {
        guard let v = value(key) else { return nil }
        guard let t = v.table else { throw wrong(key, "a table ([\(key)])") }
        return TableReader(table: t, prefix: prefix + key + ".")
    }
    func finish() throws(ConfigError) {
        for key in table.keys.sorted() where !used.contains(key) {
            throw ConfigError(key: prefix + key, "unknown key")
        }
    }
}
