import Foundation
public import PrivateCore
public import TrackerProtocol

extension SquallConfig {
    /// `[private]`: a private tracker (passkeys, the site's registry, UNIT3D-Announce's rules).
    public struct PrivateSettings: Sendable, Equatable {
        /// `private.enabled`: announces and scrapes need a passkey.
        public var enabled = false
        /// `private.passkey_forms`: where URLs carry the passkey.
        public var passkeyForms: PasskeyForms = .pathAfter
        /// `private.require_https`: refuse announces over plain HTTP (passkeys never cross the
        /// network in clear).
        public var requireHTTPS = true
        /// `private.source`: where the registry comes from.
        public var source = Source.api
        /// `private.database_url` (or `database_url_file`): the site's database, for `unit3d`.
        public var databaseURL: DatabaseURL?
        /// `private.state_file`: where the `api` registry persists with the memory store.
        public var stateFile: String?
        /// `private.header_heuristics`: refuse browser headers and user agents.
        public var headerHeuristics = true
        /// `private.max_peers_per_user`: peers one user may have on one torrent (0: no limit).
        public var maxPeersPerUser = 3
        /// `private.min_interval_enforced`: an announce sooner than this after the peer's last
        /// gets an empty reply (UNIT3D-Announce's silent rate limit); 0: off.
        public var minIntervalEnforced = 1740
        /// `private.dedup_window`: the second announce of a dual-stack or hybrid pair within
        /// this many seconds is answered in full.
        public var dedupWindow = 120
        /// `private.seed_list_rate_limits`, `private.leech_list_rate_limits`.
        public var seedListLimits = ListRateLimit.defaultSeedLists
        public var leechListLimits = ListRateLimit.defaultLeechLists

        public enum Source: String, Sendable, Equatable, CaseIterable {
            /// UNIT3D's tables, loaded at startup, then the site's API.
            case unit3d
            /// The site's API alone; persisted in Redis or in `state_file`.
            case api
        }

        public var rules: PrivateRuleSettings {
            PrivateRuleSettings(headerHeuristics: headerHeuristics, maxPeersPerUserTorrent: maxPeersPerUser)
        }
    }

    /// `[admin]`: the site's API listener.
    public struct AdminSettings: Sendable, Equatable {
        /// `admin.listen`: TCP addresses (default loopback only).
        public var listen = [ListenAddress(host: "127.0.0.1", port: 6971)]
        /// `admin.unix_socket`: a unix socket as well (or instead, with `listen = []`).
        public var unixSocket: String?
        /// `admin.key` (or `key_file`): the site's `TRACKER_KEY`, at least 32 bytes.
        public var key: String?
    }

    mutating func applyPrivate(_ r: inout TableReader) throws(ConfigError) {
        if var t = try r.table("private") {
            if let v = try t.bool("enabled") { privateMode.enabled = v }
            if let list = try t.stringArray("passkey_forms") {
                var forms: PasskeyForms = []
                for name in list {
                    guard let form = PasskeyForms.names.first(where: { $0.0 == name })?.1 else {
                        throw ConfigError(
                            key: "private.passkey_forms",
                            "'\(name)' is not one of \(PasskeyForms.names.map { "\"\($0.0)\"" }.joined(separator: ", "))")
                    }
                    forms.insert(form)
                }
                privateMode.passkeyForms = forms
            }
            if let v = try t.bool("require_https") { privateMode.requireHTTPS = v }
            if let v = try t.string("source") {
                guard let s = PrivateSettings.Source(rawValue: v) else {
                    throw ConfigError(key: "private.source", "must be \"unit3d\" or \"api\"")
                }
                privateMode.source = s
            }
            if let text = try t.secret("database_url") {
                guard let url = DatabaseURL(text) else {
                    throw ConfigError(
                        key: "private.database_url",
                        "not mysql://USER:PASSWORD@HOST:PORT/DB or mysql+unix:///path/to/socket?db=DB&user=USER[&password=PASSWORD]")
                }
                privateMode.databaseURL = url
            }
            if let v = try t.string("state_file") { privateMode.stateFile = v }
            if let v = try t.bool("header_heuristics") { privateMode.headerHeuristics = v }
            if let v = try t.int("max_peers_per_user") { privateMode.maxPeersPerUser = v }
            if let v = try t.int("min_interval_enforced") { privateMode.minIntervalEnforced = v }
            if let v = try t.int("dedup_window") { privateMode.dedupWindow = v }
            for (key, path) in [("seed_list_rate_limits", \PrivateSettings.seedListLimits), ("leech_list_rate_limits", \.leechListLimits)] {
                if let v = try t.string(key) {
                    guard let limits = ListRateLimit.parse(v) else {
                        throw ConfigError(key: "private.\(key)", "must be WINDOW=MAX pairs joined by ';', such as \"60=10;900=25\"")
                    }
                    privateMode[keyPath: path] = limits
                }
            }
            try t.finish()
        }
        if var t = try r.table("admin") {
            if let list = try t.stringArray("listen") {
                admin.listen = try ListenAddress.parseList(list, key: "admin.listen", form: "HOST:PORT")
            }
            if let v = try t.string("unix_socket") { admin.unixSocket = v }
            if let k = try t.secret("key") { admin.key = k }
            try t.finish()
        }
    }

    /// The first line of a secret file (a trailing newline is not part of the secret).
    /// `credential:NAME` is systemd's credential NAME (`LoadCredential=` in the unit), read from
    /// `$CREDENTIALS_DIRECTORY`.
    static func secretFile(_ given: String?, key: String) throws(ConfigError) -> String? {
        guard var path = given else { return nil }
        if path.hasPrefix("credential:") {
            let name = path.dropFirst("credential:".count)
            guard let dir = ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"], !name.isEmpty, !name.contains("/") else {
                throw ConfigError(key: key, "'\(path)' names a systemd credential, but CREDENTIALS_DIRECTORY is not set")
            }
            path = dir + "/" + name
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(key: key, "cannot read '\(path)'")
        }
        return String(text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
    }

    func validatePrivate() throws(ConfigError) {
        guard privateMode.enabled else { return }
        guard !privateMode.passkeyForms.isEmpty else { throw ConfigError(key: "private.passkey_forms", "needs at least one form") }
        if privateMode.requireHTTPS, https.listen.isEmpty {
            throw ConfigError(key: "private.require_https", "is true but https.listen is empty: no announce could be served")
        }
        if privateMode.source == .unit3d, privateMode.stateFile != nil {
            throw ConfigError(key: "private.state_file", "is for source = \"api\"; with \"unit3d\" the site's database holds the registry")
        }
        if privateMode.source == .unit3d, privateMode.databaseURL == nil {
            throw ConfigError(key: "private.database_url", "is required with private.source = \"unit3d\"")
        }
        guard let key = admin.key else {
            throw ConfigError(key: "admin.key", "is required with private.enabled: the site's API needs it (its TRACKER_KEY)")
        }
        guard key.utf8.count >= 32, key.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "/") }) else {
            throw ConfigError(key: "admin.key", "must be at least 32 printable ASCII bytes, without spaces or '/'")
        }
        guard !admin.listen.isEmpty || admin.unixSocket != nil else {
            throw ConfigError(key: "admin.listen", "is empty and admin.unix_socket is not set: the site could not reach the API")
        }
        guard (0...65_535).contains(privateMode.maxPeersPerUser) else {
            throw ConfigError(key: "private.max_peers_per_user", "must be between 0 (no limit) and 65535")
        }
        guard (0...86_400).contains(privateMode.minIntervalEnforced) else {
            throw ConfigError(key: "private.min_interval_enforced", "must be between 0 (off) and 86400")
        }
        guard (0...3600).contains(privateMode.dedupWindow) else {
            throw ConfigError(key: "private.dedup_window", "must be between 0 and 3600")
        }
    }

    var privateTOML: [String] {
        func q(_ s: String) -> String {
            "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        func rates(_ l: [ListRateLimit]) -> String {
            q(l.map { "\(Self.number($0.window))=\(Self.number($0.max))" }.joined(separator: ";"))
        }
        var lines = [
            "",
            "[private]",
            "enabled = \(privateMode.enabled)",
            "passkey_forms = [\(PasskeyForms.names.filter { privateMode.passkeyForms.contains($0.1) }.map { q($0.0) }.joined(separator: ", "))]",
            "require_https = \(privateMode.requireHTTPS)",
            "source = \(q(privateMode.source.rawValue))",
        ]
        if let url = privateMode.databaseURL { lines.append("database_url = \(q(url.description))") }
        if let f = privateMode.stateFile { lines.append("state_file = \(q(f))") }
        lines += [
            "header_heuristics = \(privateMode.headerHeuristics)",
            "max_peers_per_user = \(privateMode.maxPeersPerUser)",
            "min_interval_enforced = \(privateMode.minIntervalEnforced)",
            "dedup_window = \(privateMode.dedupWindow)",
            "seed_list_rate_limits = \(rates(privateMode.seedListLimits))",
            "leech_list_rate_limits = \(rates(privateMode.leechListLimits))",
            "",
            "[admin]",
            "listen = [\(admin.listen.map { q($0.description) }.joined(separator: ", "))]",
        ]
        if let s = admin.unixSocket { lines.append("unix_socket = \(q(s))") }
        if admin.key != nil { lines.append("# key is set (not shown)") }
        return lines
    }

    private static func number(_ d: Double) -> String { d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d) }
}
