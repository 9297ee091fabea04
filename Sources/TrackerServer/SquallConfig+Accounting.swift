import Foundation
public import PrivateCore
public import RedisStore

extension SquallConfig {
    /// `[accounting]`: private mode's ledger (issue 14): where flushes go, the journal, the
    /// cadence, and UNIT3D-Announce's factor and peer-lifetime settings.
    public struct AccountingSettings: Sendable, Equatable {
        public enum Sink: String, Sendable, Equatable, CaseIterable {
            /// No accounting (announces are answered, nothing is credited).
            case none
            /// UNIT3D's tables, in `private.database_url`.
            case unit3d
            /// Entries of a Redis stream, for sites that are not UNIT3D.
            case redisStream = "redis-stream"
        }
        /// `accounting.redis_url`: the stream's Redis (default: `storage` when it is Redis).
        public var redisURL: String?
        /// `accounting.stream_max_length`: the stream is trimmed near this many entries.
        public var streamMaxLength = 1_000_000
        /// `accounting.sink`; unset: `unit3d` with `private.source = "unit3d"`, else `none`.
        public var sink: Sink?
        /// `accounting.journal_dir`: the journal's segments (mode 0700).
        public var journalDirectory: String?
        /// `accounting.fsync_ms`: how often the journal is synced to disk (what a power failure
        /// may lose; a crash of the process loses nothing).
        public var fsyncMilliseconds = 1000
        /// `accounting.journal_compact_mb`: while flushes fail, the journal's closed segments are
        /// folded into one compact file once their entries take this many MiB.
        public var journalCompactMiB = 64
        /// `accounting.flush_ms`: how often the ledger is committed (`FLUSH_INTERVAL_MILLISECONDS`).
        public var flushMilliseconds = 3000
        /// `accounting.instance`: this instance's row in `squall_accounting` (default: the host name).
        public var instance: String?
        /// `accounting.upload_factor` ... `lifetime_donor_immunity`: UNIT3D-Announce's
        /// `UPLOAD_FACTOR`, `DOWNLOAD_FACTOR`, `DONOR_*` and `LIFETIME_DONOR_*`.
        public var factors = FactorSettings()
        /// `accounting.active_peer_ttl` and `peer_expiry_interval`: their sum is the longest
        /// seeding gap that counts as seedtime (UNIT3D-Announce's 7200 + 1800).
        public var activePeerTTL = 7200
        public var peerExpiryInterval = 1800
        /// `accounting.inactive_peer_ttl`: a (user, torrent)'s baselines are forgotten this long
        /// after its last announce (21 days).
        public var inactivePeerTTL = 1_814_400
        /// `accounting.max_accounts`: (user, torrent) pairs held at most.
        public var maxAccounts = 2_000_000

        public var effectiveInstance: String {
            instance ?? ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "squall"
        }
    }

    /// The Redis of the `redis-stream` sink: `accounting.redis_url`, else the store's.
    public var accountingStreamRedis: RedisOptions? {
        if let u = accounting.redisURL { return RedisOptions(url: u) }
        return redisOptions
    }

    /// The sink in effect.
    public var accountingSink: AccountingSettings.Sink {
        guard privateMode.enabled else { return .none }
        return accounting.sink ?? (privateMode.source == .unit3d ? .unit3d : .none)
    }

    mutating func applyAccounting(_ r: inout TableReader) throws(ConfigError) {
        guard var t = try r.table("accounting") else { return }
        if let v = try t.string("sink") {
            guard let s = AccountingSettings.Sink(rawValue: v) else {
                throw ConfigError(
                    key: "accounting.sink",
                    "must be one of \(AccountingSettings.Sink.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))")
            }
            accounting.sink = s
        }
        if let v = try t.string("journal_dir") { accounting.journalDirectory = v }
        if let v = try t.string("redis_url") { accounting.redisURL = v }
        if let v = try t.int("stream_max_length") { accounting.streamMaxLength = v }
        if let v = try t.int("fsync_ms") { accounting.fsyncMilliseconds = v }
        if let v = try t.int("journal_compact_mb") { accounting.journalCompactMiB = v }
        if let v = try t.int("flush_ms") { accounting.flushMilliseconds = v }
        if let v = try t.string("instance") { accounting.instance = v }
        func percent(_ key: String) throws(ConfigError) -> UInt8? {
            guard let v = try t.int(key) else { return nil }
            guard let p = UInt8(exactly: v) else { throw ConfigError(key: "accounting.\(key)", "must be between 0 and 255 (percent)") }
            return p
        }
        if let v = try percent("upload_factor") { accounting.factors.upload = v }
        if let v = try percent("download_factor") { accounting.factors.download = v }
        accounting.factors.donorUpload = try percent("donor_upload_factor")
        accounting.factors.donorDownload = try percent("donor_download_factor")
        accounting.factors.lifetimeUpload = try percent("lifetime_donor_upload_factor")
        accounting.factors.lifetimeDownload = try percent("lifetime_donor_download_factor")
        accounting.factors.donorImmunity = try t.bool("donor_immunity")
        accounting.factors.lifetimeImmunity = try t.bool("lifetime_donor_immunity")
        if let v = try t.int("active_peer_ttl") { accounting.activePeerTTL = v }
        if let v = try t.int("peer_expiry_interval") { accounting.peerExpiryInterval = v }
        if let v = try t.int("inactive_peer_ttl") { accounting.inactivePeerTTL = v }
        if let v = try t.int("max_accounts") { accounting.maxAccounts = v }
        try t.finish()
    }

    func validateAccounting() throws(ConfigError) {
        let a = accounting
        guard privateMode.enabled else {
            if a.sink != nil, a.sink != AccountingSettings.Sink.none {
                throw ConfigError(key: "accounting.sink", "needs private.enabled = true (an open tracker credits no one)")
            }
            return
        }
        func range(_ v: Int, _ key: String, _ r: ClosedRange<Int>) throws(ConfigError) {
            guard r.contains(v) else { throw ConfigError(key: "accounting.\(key)", "must be between \(r.lowerBound) and \(r.upperBound)") }
        }
        try range(a.fsyncMilliseconds, "fsync_ms", 1...60_000)
        try range(a.journalCompactMiB, "journal_compact_mb", 1...65_536)
        try range(a.flushMilliseconds, "flush_ms", 1...3_600_000)
        try range(a.activePeerTTL, "active_peer_ttl", 1...31_536_000)
        try range(a.peerExpiryInterval, "peer_expiry_interval", 1...31_536_000)
        try range(a.inactivePeerTTL, "inactive_peer_ttl", 1...315_360_000)
        try range(a.maxAccounts, "max_accounts", 1...1_000_000_000)
        if let i = a.instance {
            guard (1...64).contains(i.utf8.count), i.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw ConfigError(key: "accounting.instance", "must be 1 to 64 printable ASCII bytes without spaces")
            }
        }
        switch accountingSink {
        case .none: return
        case .unit3d:
            guard privateMode.databaseURL != nil else {
                throw ConfigError(key: "accounting.sink", "\"unit3d\" writes to private.database_url, which is not set")
            }
        case .redisStream:
            guard accountingStreamRedis != nil else {
                throw ConfigError(
                    key: "accounting.redis_url", "is required with accounting.sink = \"redis-stream\" unless storage is a Redis URL")
            }
            try range(a.streamMaxLength, "stream_max_length", 1000...1_000_000_000)
        }
        guard let dir = a.journalDirectory, !dir.isEmpty else {
            throw ConfigError(
                key: "accounting.journal_dir",
                "is required with accounting.sink = \"\(accountingSink.rawValue)\": every credit is journalled there")
        }
    }

    var accountingTOML: [String] {
        let a = accounting
        func q(_ s: String) -> String {
            "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        var lines = ["", "[accounting]", "sink = \(q(accountingSink.rawValue))"]
        if let d = a.journalDirectory { lines.append("journal_dir = \(q(d))") }
        if accountingSink == .redisStream {
            if a.redisURL != nil { lines.append("# redis_url is set (not shown)") }
            lines.append("stream_max_length = \(a.streamMaxLength)")
        }
        lines += [
            "fsync_ms = \(a.fsyncMilliseconds)", "journal_compact_mb = \(a.journalCompactMiB)", "flush_ms = \(a.flushMilliseconds)",
            a.instance.map { "instance = \(q($0))" } ?? "# instance = \(q(a.effectiveInstance)) (the host name)",
            "upload_factor = \(a.factors.upload)", "download_factor = \(a.factors.download)",
        ]
        for (key, v) in [
            ("donor_upload_factor", a.factors.donorUpload), ("donor_download_factor", a.factors.donorDownload),
            ("lifetime_donor_upload_factor", a.factors.lifetimeUpload), ("lifetime_donor_download_factor", a.factors.lifetimeDownload),
        ] {
            if let v { lines.append("\(key) = \(v)") }
        }
        if let v = a.factors.donorImmunity { lines.append("donor_immunity = \(v)") }
        if let v = a.factors.lifetimeImmunity { lines.append("lifetime_donor_immunity = \(v)") }
        lines += [
            "active_peer_ttl = \(a.activePeerTTL)", "peer_expiry_interval = \(a.peerExpiryInterval)",
            "inactive_peer_ttl = \(a.inactivePeerTTL)", "max_accounts = \(a.maxAccounts)",
        ]
        return lines
    }
}
