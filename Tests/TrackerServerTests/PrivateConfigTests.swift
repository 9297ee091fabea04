import Foundation
import PrivateCore
import Testing
import TrackerProtocol
import TrackerServer
import TrackerTestSupport

/// `[private]` and `[admin]`: every refusal names its key, and no secret is ever printed.
@Suite struct PrivateConfigTests {
    static let key = "k" + String(repeating: "0123456789abcdef", count: 2)
    static let base = """
        [https]
        listen = ["[::]:8443"]
        certificates = [{ cert = "a.pem", key = "a.key" }]
        [admin]
        key = "\(key)"
        [private]
        enabled = true

        """

    func resolve(_ toml: String) throws(ConfigError) -> SquallConfig {
        try SquallConfig.resolve(fileText: toml, fileName: "test.toml", overrides: ConfigOverrides())
    }

    @Test func aPrivateTrackerResolves() throws {
        let c = try resolve(
            Self.base + """
                passkey_forms = ["/announce/{passkey}", "/{passkey}/announce", "/announce?passkey={passkey}"]
                source = "unit3d"
                database_url = "mysql://unit3d:s%40cret@127.0.0.1:3307/unit3d"
                max_peers_per_user = 5
                seed_list_rate_limits = "60=3"
                [accounting]
                journal_dir = "/var/lib/squall/accounting"
                journal_compact_mb = 16
                """)
        #expect(c.accountingRuntime.compactBytes == 16 << 20 && c.toml.contains("journal_compact_mb = 16"))
        #expect(try resolve(Self.base).accountingRuntime.compactBytes == 64 << 20, "64 MiB by default")
        #expect(c.privateMode.enabled && c.privateMode.source == .unit3d)
        #expect(c.privateMode.passkeyForms == [.pathAfter, .pathBefore, .query])
        #expect(
            c.privateMode.databaseURL == DatabaseURL(host: "127.0.0.1", port: 3307, user: "unit3d", password: "s@cret", database: "unit3d"))
        #expect(c.privateMode.seedListLimits == [ListRateLimit(window: 60, max: 3)])
        #expect(c.privateMode.rules == PrivateRuleSettings(headerHeuristics: true, maxPeersPerUserTorrent: 5))
        // Printed: no password, no key; and what is printed reads back the same.
        #expect(!c.toml.contains("s%40cret") && !c.toml.contains("s@cret") && !c.toml.contains(Self.key))
        #expect(c.toml.contains("database_url = \"mysql://unit3d:***@127.0.0.1:3307/unit3d\""))
        #expect(c.toml.contains("# key is set (not shown)"))
    }

    /// Config/squall.toml (the package's /etc/squall/squall.toml) names every `[accounting]` key
    /// the printed configuration can hold, set to its default or shown commented out.
    @Test func theExampleDocumentsEveryAccountingKey() throws {
        let example = try String(contentsOf: repoRoot.appendingPathComponent("Config/squall.toml"), encoding: .utf8)
        let all = try resolve(
            Self.base + """
                [accounting]
                sink = "redis-stream"
                redis_url = "redis://127.0.0.1:6379"
                journal_dir = "/var/lib/squall/accounting"
                instance = "tracker1"
                donor_upload_factor = 100
                donor_download_factor = 0
                donor_immunity = true
                lifetime_donor_upload_factor = 100
                lifetime_donor_download_factor = 0
                lifetime_donor_immunity = true
                """)
        let printed = all.toml.split(separator: "\n").drop { $0 != "[accounting]" }.dropFirst()
        let keys = printed.compactMap { line -> Substring? in
            let body = line.hasPrefix("# ") ? line.dropFirst(2) : line
            guard let eq = body.range(of: " = ") ?? body.range(of: " is set") else { return nil }
            return body[..<eq.lowerBound]
        }
        #expect(keys.count >= 18, "\(keys)")
        let section = example.components(separatedBy: "\n[accounting]\n").last ?? ""
        for key in keys {
            #expect(section.contains("\n\(key) = ") || section.contains("\n# \(key) = "), "Config/squall.toml documents accounting.\(key)")
        }
        // Its uncommented values are the defaults.
        let head = Self.base + "[accounting]\njournal_dir = \"/j\"\n"
        #expect(try resolve(head + section).accounting == (try resolve(head)).accounting)
    }

    @Test func databaseURLForms() {
        #expect(
            DatabaseURL("mysql+unix:///run/mysqld/mysqld.sock?db=unit3d&user=site&password=pw")
                == DatabaseURL(
                    host: "localhost", port: 0, socket: "/run/mysqld/mysqld.sock", user: "site", password: "pw", database: "unit3d"))
        #expect(DatabaseURL("mysql://site@db.example.org/unit3d")?.port == 3306)
        #expect(DatabaseURL("mysql://site:pw@[::1]:3306/unit3d")?.host == "::1")
        #expect(DatabaseURL("mysql://site:pw@localhost/unit3d?socket=/tmp/m.sock")?.socket == "/tmp/m.sock")
        for bad in ["postgres://a@b/c", "mysql://a@b", "mysql://@b/c", "mysql+unix://relative?db=a&user=b", "mysql+unix:///s?user=b"] {
            #expect(DatabaseURL(bad) == nil, "\(bad)")
        }
        #expect(DatabaseURL("mysql://site:pw@h:1/d")!.description == "mysql://site:***@h:1/d")
        #expect(!DatabaseURL("mysql+unix:///s?db=a&user=b&password=pw")!.description.contains("pw"))
    }

    @Test func secretsComeFromFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("squall-secrets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let keyFile = dir.appendingPathComponent("key"), urlFile = dir.appendingPathComponent("db")
        try (Self.key + "\n").write(to: keyFile, atomically: true, encoding: .utf8)
        try "mysql://u:p@127.0.0.1:3306/d\n".write(to: urlFile, atomically: true, encoding: .utf8)
        let c = try resolve(
            Self.base.replacingOccurrences(of: "key = \"\(Self.key)\"", with: "key_file = \"\(keyFile.path)\"")
                + "source = \"unit3d\"\ndatabase_url_file = \"\(urlFile.path)\"\n[accounting]\njournal_dir = \"/tmp/j\"\n")
        #expect(c.admin.key == Self.key)
        #expect(c.privateMode.databaseURL?.password == "p")
        #expect(throws: ConfigError(key: "admin.key_file", "cannot read '/nonexistent/key'")) {
            try resolve(Self.base.replacingOccurrences(of: "key = \"\(Self.key)\"", with: "key_file = \"/nonexistent/key\""))
        }
    }

    @Test(arguments: [
        (
            "[admin]\nkey = \"\(key)\"\n[private]\nenabled = true\n",
            "private.require_https: is true but https.listen is empty: no announce could be served"
        ),
        (
            base.replacingOccurrences(of: "key = \"\(key)\"", with: ""),
            "admin.key: is required with private.enabled: the site's API needs it (its TRACKER_KEY)"
        ),
        (base.replacingOccurrences(of: key, with: "short"), "admin.key: must be at least 32 printable ASCII bytes, without spaces or '/'"),
        (base + "source = \"unit3d\"\n", "private.database_url: is required with private.source = \"unit3d\""),
        (base + "source = \"ocelot\"\n", "private.source: must be \"unit3d\" or \"api\""),
        (
            base + "passkey_forms = [\"/{passkey}\"]\n",
            "private.passkey_forms: '/{passkey}' is not one of \"/announce/{passkey}\", \"/{passkey}/announce\", \"/announce?passkey={passkey}\""
        ),
        (base + "passkey_forms = []\n", "private.passkey_forms: needs at least one form"),
        (
            base + "database_url = \"mysql://nohost\"\n",
            "private.database_url: not mysql://USER:PASSWORD@HOST:PORT/DB or mysql+unix:///path/to/socket?db=DB&user=USER[&password=PASSWORD]"
        ),
        (
            base + "seed_list_rate_limits = \"60\"\n",
            "private.seed_list_rate_limits: must be WINDOW=MAX pairs joined by ';', such as \"60=10;900=25\""
        ),
        (base + "max_peers_per_user = -1\n", "private.max_peers_per_user: must be between 0 (no limit) and 65535"),
        (base + "dedup_window = 7200\n", "private.dedup_window: must be between 0 and 3600"),
        (base + "colour = 1\n", "private.colour: unknown key"),
        (
            base + "source = \"unit3d\"\ndatabase_url = \"mysql://u:p@h:1/d\"\n",
            "accounting.journal_dir: is required with accounting.sink = \"unit3d\": every credit is journalled there"
        ),
        (
            base + "[accounting]\nsink = \"redis-stream\"\njournal_dir = \"/tmp/j\"\n",
            "accounting.redis_url: is required with accounting.sink = \"redis-stream\" unless storage is a Redis URL"
        ),
        (base + "[accounting]\nsink = \"kafka\"\n", "accounting.sink: must be one of \"none\", \"unit3d\", \"redis-stream\""),
        (base + "[accounting]\nupload_factor = 300\n", "accounting.upload_factor: must be between 0 and 255 (percent)"),
        (base + "[accounting]\nflush_ms = 0\n", "accounting.flush_ms: must be between 1 and 3600000"),
        (base + "[accounting]\njournal_compact_mb = 0\n", "accounting.journal_compact_mb: must be between 1 and 65536"),
        (
            base + "[accounting]\nsink = \"unit3d\"\njournal_dir = \"/tmp/j\"\n",
            "accounting.sink: \"unit3d\" writes to private.database_url, which is not set"
        ),
        (
            base.replacingOccurrences(of: "[admin]", with: "[admin]\nlisten = []"),
            "admin.listen: is empty and admin.unix_socket is not set: the site could not reach the API"
        ),
    ])
    func badPrivateConfigNamesTheKey(toml: String, message: String) {
        do {
            _ = try resolve(toml)
            Issue.record("accepted: \(toml)")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func errorsNeverCarryTheSecret() {
        do {
            _ = try resolve(Self.base + "database_url = \"mysql://u:hunter2hunter2@nohost\"\n")
            Issue.record("accepted")
        } catch {
            #expect(!error.description.contains("hunter2"))
        }
    }
}
