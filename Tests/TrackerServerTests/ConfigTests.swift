import Foundation
import Testing
import TrackerCore
import TrackerServer
import TrackerTestSupport

@Suite struct ConfigTests {
    func resolve(_ toml: String?, _ overrides: ConfigOverrides = ConfigOverrides()) throws(ConfigError) -> SquallConfig {
        try SquallConfig.resolve(fileText: toml, fileName: "test.toml", overrides: overrides)
    }

    @Test func defaultsAreValidAndDocumented() throws {
        let defaults = try resolve(nil)
        #expect(defaults.http.listen == [ListenAddress(host: "::", port: 6969)])
        #expect(defaults.announce.policy.interval == 1800 && defaults.announce.policy.minInterval == 900)
        #expect(defaults.announce.policy.maxNumwant == 200 && defaults.announce.policy.defaultNumwant == 50)
        // The documented example sets every key, to its default.
        let example = try String(contentsOf: repoRoot.appendingPathComponent("Config/squall.toml"), encoding: .utf8)
        let fromExample = try resolve(example)
        #expect(fromExample.toml == defaults.toml)
        for line in defaults.toml.split(separator: "\n") where line.contains(" = ") {
            let key = line.split(separator: " ")[0]
            #expect(example.contains("\n\(key) = "), "Config/squall.toml documents \(key)")
        }
    }

    @Test func printedConfigRoundTrips() throws {
        var o = ConfigOverrides()
        o.http = ["127.0.0.1:7000", "[::1]:7001"]
        o.announceInterval = "600"
        o.https = ["[::]:8443"]
        o.tlsCerts = ["a.pem", "b.pem"]
        o.tlsKeys = ["a.key", "b.key"]
        let config = try resolve(
            "trusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n[scrape]\nfull_scrape = true\nmax_hashes = 10\n[memory]\nmax_torrents = 5\n", o)
        #expect(config.trustedProxies.map(\.description) == ["10.0.0.0/8", "::1/128"])
        let proxied = try resolve(
            "trusted_proxies = [\"10.0.0.0/8\"]\n[http]\nlisten = [\"[::]:6969\", { address = \"10.0.0.5:7000\", proxy_protocol = true }]\n"
        )
        #expect(
            proxied.http.listen == [
                ListenAddress(host: "::", port: 6969), ListenAddress(host: "10.0.0.5", port: 7000, proxyProtocol: true),
            ])
        #expect(try resolve(proxied.toml).http.listen == proxied.http.listen)
        #expect(config.https.certificates == [.init(cert: "a.pem", key: "a.key"), .init(cert: "b.pem", key: "b.key")])
        let again = try resolve(config.toml)
        #expect(again.toml == config.toml && again.trustedProxies == config.trustedProxies)
        #expect(again.announce.policy == config.announce.policy)
        #expect(again.http == config.http && again.https == config.https && again.scrape == config.scrape && again.memory == config.memory)
    }

    @Test func flagsOverrideTheFile() throws {
        var o = ConfigOverrides()
        o.announceInterval = "120"
        o.http = ["0.0.0.0:1"]
        let c = try resolve("[announce]\ninterval = 100\n[http]\nlisten = [\"[::]:2\"]\n", o)
        #expect(c.announce.interval == 120 && c.http.listen == [ListenAddress(host: "0.0.0.0", port: 1)])
    }

    @Test(arguments: [
        ("nonsense = 1", "nonsense: unknown key"),
        ("[announce]\nintervall = 5", "announce.intervall: unknown key"),
        ("[announce]\ninterval = \"soon\"", "announce.interval: must be an integer"),
        ("[announce]\ninterval = 0", "announce.interval: must be between 1 and 86400"),
        ("[announce]\ninterval = 100\nmin_interval = 200", "announce.min_interval: must be between 0 and announce.interval (100)"),
        ("[announce]\nmax_numwant = 10", "announce.default_numwant: must be between 0 and announce.max_numwant (10)"),
        ("[http]\nlisten = [\"localhost\"]", "http.listen: 'localhost' is not HOST:PORT or [V6]:PORT"),
        ("[http]\nlisten = [\"1.2.3.4:99999\"]", "http.listen: '1.2.3.4:99999' is not HOST:PORT or [V6]:PORT"),
        ("[http]\nlisten = []", "http.listen: needs at least one address"),
        ("[http]\nmax_header_bytes = 10", "http.max_header_bytes: must be between 512 and 1048576"),
        ("http = 5", "http: must be a table ([http])"),
        (
            "storage = \"postgres://x\"",
            "storage: 'postgres://x' is not memory, redis://[user:password@]host:port[/db], unix:///path[?db=N] or redis+cluster://[user:password@]host:port[,host:port...]"
        ),
        ("log_level = \"loud\"", "log_level: must be one of trace, debug, info, notice, warning, error, critical"),
        ("[scrape]\nfull_scrape = 1", "scrape.full_scrape: must be true or false"),
        ("[https]\nlisten = [\"[::]:443\"]", "https.certificates: https.listen is set but no certificate is configured"),
        ("[https]\ncertificates = [{ cert = \"a.pem\" }]", "https.certificates: each entry needs cert and key"),
        ("[https]\ncertificates = [{ cert = \"a.pem\", key = \"a.key\", chain = 1 }]", "https.certificates[0].chain: unknown key"),
        ("[https]\ncertificates = \"a.pem\"", "https.certificates: must be an array of tables"),
        (
            "trusted_proxies = [\"10.0.0.0/99\"]",
            "trusted_proxies: '10.0.0.0/99' is not an address or CIDR block such as 10.0.0.0/8 or ::1/128"
        ),
        ("trusted_proxies = \"10.0.0.1\"", "trusted_proxies: must be an array of strings"),
        ("[http]\nlisten = [{ proxy_protocol = true }]", "http.listen[0]: needs address"),
        ("[http]\nlisten = [{ address = \"[::]:1\", proxy = true }]", "http.listen[0].proxy: unknown key"),
        ("[http]\nlisten = [{ address = \"nowhere\" }]", "http.listen: 'nowhere' is not HOST:PORT or [V6]:PORT"),
        ("[http]\nlisten = [1]", "http.listen: must be an array of \"HOST:PORT\" or { address = \"HOST:PORT\", proxy_protocol = true }"),
        (
            "[http]\nlisten = [\"[::]:1\", { address = \"127.0.0.1:2\", proxy_protocol = true }]",
            "http.listen: 127.0.0.1:2 takes PROXY protocol headers, but trusted_proxies names no proxy to take them from"
        ),
    ])
    func badConfigNamesTheKey(toml: String, message: String) {
        do {
            _ = try resolve(toml)
            Issue.record("accepted: \(toml)")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func syntaxErrorsNameTheFileAndLine() {
        do {
            _ = try resolve("[announce]\ninterval = = 3\n")
            Issue.record("accepted")
        } catch {
            #expect(error.key == "test.toml" && error.problem.hasPrefix("line 2"))
        }
    }

    @Test func badFlagsNameTheFlag() {
        var o = ConfigOverrides()
        o.http = ["nowhere"]
        #expect(throws: ConfigError(key: "--http", "'nowhere' is not ADDR:PORT or [V6]:PORT")) { try resolve(nil, o) }
        var pairs = ConfigOverrides()
        pairs.tlsCerts = ["a.pem", "b.pem"]
        pairs.tlsKeys = ["a.key"]
        #expect(throws: ConfigError(key: "--tls-cert", "give --tls-cert and --tls-key in pairs (2 certificates, 1 keys)")) {
            try resolve(nil, pairs)
        }
        var i = ConfigOverrides()
        i.announceInterval = "abc"
        #expect(throws: ConfigError(key: "--announce-interval", "'abc' is not a number of seconds")) { try resolve(nil, i) }
    }

    @Test(arguments: [
        ("[::]:6969", "::", 6969), ("0.0.0.0:80", "0.0.0.0", 80), ("[::1]:0", "::1", 0), ("127.0.0.1:65535", "127.0.0.1", 65535),
    ])
    func listenAddressesParse(_ text: String, _ host: String, _ port: Int) {
        let a = ListenAddress(text)
        #expect(a == ListenAddress(host: host, port: port))
        #expect(a?.description == text)
    }
}

@Suite struct StorageConfigTests {
    func resolve(_ storage: String, _ toml: String? = nil) throws(ConfigError) -> SquallConfig {
        var o = ConfigOverrides()
        o.storage = storage
        return try SquallConfig.resolve(fileText: toml, fileName: "test.toml", overrides: o)
    }

    @Test func redisURLsParse() throws {
        let tcp = try #require(try resolve("redis://squall:pa:ss@[::1]:6380/3").redisOptions)
        #expect(tcp.endpoint == .tcp(host: "::1", port: 6380) && tcp.username == "squall" && tcp.password == "pa:ss" && tcp.database == 3)
        let plain = try #require(try resolve("redis://10.0.0.5").redisOptions)
        #expect(plain.endpoint == .tcp(host: "10.0.0.5", port: 6379) && plain.password == nil && plain.database == 0)
        let unix = try #require(try resolve("unix:///run/redis/redis.sock?db=2").redisOptions)
        #expect(unix.endpoint == .unix(path: "/run/redis/redis.sock") && unix.database == 2)
        let tuned = try #require(
            try resolve(
                "redis://h:1",
                "[redis]\nconnections = 8\ntimeout_ms = 250\nconnect_timeout_ms = 400\nprefix = \"t1:\"\npassword = \"cfg\"\n"
            ).redisOptions)
        #expect(tuned.connections == 8 && tuned.timeout == .milliseconds(250) && tuned.prefix == "t1:" && tuned.password == "cfg")
        #expect(tuned.connectTimeout == .milliseconds(400))
        #expect(try resolve("memory").redisOptions == nil)
        let cluster = try #require(try resolve("redis+cluster://:pw@10.0.0.1:7000,[::1]:7001,node3").redisOptions)
        #expect(cluster.isCluster && cluster.password == "pw" && cluster.endpoint == .tcp(host: "10.0.0.1", port: 7000))
        #expect(
            cluster.clusterSeeds == [.tcp(host: "10.0.0.1", port: 7000), .tcp(host: "::1", port: 7001), .tcp(host: "node3", port: 6379)])
        #expect(cluster.redacted == "redis+cluster://10.0.0.1:7000,[::1]:7001,node3:6379")
    }

    @Test(arguments: [
        "redis:/x", "redis://host:99999", "redis://host:1/-2", "unix://relative.sock", "postgres://x", "redis://:secret@:1",
        "redis://a:1,b:2", "redis+cluster://:secret@a:1/2", "redis+cluster://a:1,",
    ])
    func badStorageNamesTheKeyWithoutThePassword(_ url: String) {
        do {
            _ = try resolve(url)
            Issue.record("accepted \(url)")
        } catch {
            #expect(error.key == "storage" && !error.description.contains("secret"), "\(error)")
        }
    }

    @Test func statsAccessSettings() throws {
        let c = try resolve("memory", "[stats]\nallow = [\"10.0.0.0/8\", \"2001:db8::/32\", \"192.0.2.7\"]\ntoken = \"tok3n\"\n")
        #expect(c.stats.allow.map(\.description) == ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32"] && c.stats.token == "tok3n")
        #expect(!c.toml.contains("tok3n") && c.toml.contains("# token is set (not shown)"))
        #expect(c.stats.allow[0].contains(.v4(IPv4Address(10, 9, 8, 7))) && !c.stats.allow[0].contains(.v4(IPv4Address(11, 0, 0, 1))))
        #expect(c.stats.allow[1].contains(.v6(IPv6Address(high: 0x2001_0db8_ffff_0000, low: 1))))
        #expect(!c.stats.allow[1].contains(.v6(IPv6Address(high: 0x2001_0db9_0000_0000, low: 1))))
        // IPv4 clients on a dual-stack socket arrive as ::ffff:a.b.c.d.
        #expect(c.stats.allow[2].contains(.v6(IPv6Address(high: 0, low: 0xFFFF_C000_0207))))
        for (toml, message) in [
            (
                "[stats]\nallow = [\"10.0.0.0/33\"]\n",
                "stats.allow: '10.0.0.0/33' is not an address or CIDR block such as 10.0.0.0/8 or ::1/128"
            ),
            (
                "[stats]\nallow = [\"localhost\"]\n",
                "stats.allow: 'localhost' is not an address or CIDR block such as 10.0.0.0/8 or ::1/128"
            ),
            ("[stats]\ntoken = \"has space\"\n", "stats.token: must be printable ASCII without spaces"),
        ] {
            do {
                _ = try resolve("memory", toml)
                Issue.record("accepted \(toml)")
            } catch {
                #expect(error.description == message)
            }
        }
    }

    @Test func printedConfigNeverShowsThePassword() throws {
        let c = try resolve("redis://:secret@127.0.0.1:6379/1", "[redis]\nusername = \"squall\"\npassword = \"other\"\n")
        #expect(!c.toml.contains("secret") && !c.toml.contains("other"))
        #expect(c.toml.contains("storage = \"redis://:***@127.0.0.1:6379/1\"") && c.toml.contains("# password is set (not shown)"))
        let cluster = try resolve("redis+cluster://:secret@10.0.0.1:7000,10.0.0.2:7000")
        #expect(cluster.toml.contains("storage = \"redis+cluster://:***@10.0.0.1:7000,10.0.0.2:7000\"") && !cluster.toml.contains("secret"))
    }
}

/// `SQUALL_...` variables over the file, flags over both; secrets from files.
@Suite struct EnvironmentConfigTests {
    func resolve(_ toml: String?, _ env: [String: String], _ overrides: ConfigOverrides = ConfigOverrides()) throws(ConfigError)
        -> SquallConfig
    {
        try SquallConfig.resolve(fileText: toml, fileName: "test.toml", overrides: overrides, environment: env)
    }

    @Test func variablesOverTheFileAndFlagsOverThem() throws {
        let env = [
            "SQUALL_ANNOUNCE_INTERVAL": "600", "SQUALL_LOG_LEVEL": "debug", "SQUALL_HTTP_LISTEN": #"["127.0.0.1:7000", "[::1]:7001"]"#,
            "SQUALL_TRUSTED_PROXIES": #"["10.0.0.0/8"]"#, "SQUALL_SCRAPE_FULL_SCRAPE": "true", "SQUALL_REDIS_PASSWORD": "hunter2",
            // Not Squall's keys (the test harness's own): left alone.
            "SQUALL_BINARY": "/x", "SQUALL_TEST_LOG_DIR": "/tmp/x",
        ]
        let c = try resolve("[announce]\ninterval = 100\nmin_interval = 50\n", env)
        #expect(c.announce.interval == 600 && c.announce.minInterval == 50 && c.logLevel == "debug" && c.scrape.fullScrape)
        #expect(c.http.listen == [ListenAddress(host: "127.0.0.1", port: 7000), ListenAddress(host: "::1", port: 7001)])
        #expect(c.trustedProxies.map(\.description) == ["10.0.0.0/8"] && c.redis.password == "hunter2")
        #expect(!c.toml.contains("hunter2"))
        var flags = ConfigOverrides()
        flags.announceInterval = "120"
        #expect(try resolve(nil, env, flags).announce.interval == 120)
    }

    @Test(arguments: [
        ("SQUALL_ANNOUNCE_INTERVALL", "5", "SQUALL_ANNOUNCE_INTERVALL: unknown key"),
        ("SQUALL_ANNOUNCE_INTERVAL", "soon", "SQUALL_ANNOUNCE_INTERVAL: must be an integer"),
        (
            "SQUALL_HTTP_LISTEN", "nowhere",
            #"SQUALL_HTTP_LISTEN: must be an array of "HOST:PORT" or { address = "HOST:PORT", proxy_protocol = true }"#
        ),
        (
            "SQUALL_STATS_ALLOW", #"["10.0.0.0/33"]"#,
            "SQUALL_STATS_ALLOW: '10.0.0.0/33' is not an address or CIDR block such as 10.0.0.0/8 or ::1/128"
        ),
    ])
    func aBadVariableIsNamed(name: String, value: String, message: String) {
        do {
            _ = try resolve(nil, [name: value])
            Issue.record("accepted \(name)=\(value)")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func secretsFromFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("squall-secret-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let (password, token) = (dir.appendingPathComponent("redis"), dir.appendingPathComponent("token"))
        try "s3cret\n".write(to: password, atomically: true, encoding: .utf8)
        try "tok3n\nignored\n".write(to: token, atomically: true, encoding: .utf8)
        let c = try resolve("[redis]\npassword_file = \"\(password.path)\"\n[stats]\ntoken_file = \"\(token.path)\"\n", [:])
        #expect(c.redis.password == "s3cret" && c.stats.token == "tok3n")
        #expect(!c.toml.contains("s3cret") && !c.toml.contains("tok3n"))
        for (toml, message) in [
            (
                "[redis]\npassword = \"a\"\npassword_file = \"\(password.path)\"\n",
                "redis.password: give password or password_file, not both"
            ),
            ("[stats]\ntoken_file = \"/nonexistent/t\"\n", "stats.token_file: cannot read '/nonexistent/t'"),
        ] {
            #expect(throws: ConfigError.self) { try resolve(toml, [:]) }
            do { _ = try resolve(toml, [:]) } catch { #expect(error.description == message) }
        }
        // A variable may point at the file too.
        #expect(try resolve(nil, ["SQUALL_REDIS_PASSWORD_FILE": password.path]).redis.password == "s3cret")
    }
}

/// `docs/man/squall.toml.5` lists every key the configuration reads: those the parser asks for
/// (read from its source) and those `--print-config` prints with private mode on.
@Suite struct ManPageTests {
    static func keysInSource() throws -> Set<String> {
        var keys = Set<String>()
        let dir = repoRoot.appendingPathComponent("Sources/TrackerServer")
        let section = try NSRegularExpression(pattern: #"r\.table\("([a-z_]+)"\)"#)
        let key = try NSRegularExpression(pattern: #"\b([rt])\.(string|int|bool|stringArray|tableArray|listeners|secret)\("([a-z_]+)"\)"#)
        for file in try FileManager.default.contentsOfDirectory(atPath: dir.path) where file.hasPrefix("SquallConfig") {
            var current = ""
            for line in try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8).split(separator: "\n") {
                let s = String(line)
                let range = NSRange(s.startIndex..., in: s)
                if let m = section.firstMatch(in: s, range: range) { current = String(s[Range(m.range(at: 1), in: s)!]) }
                for m in key.matches(in: s, range: range) {
                    let (reader, kind) = (String(s[Range(m.range(at: 1), in: s)!]), String(s[Range(m.range(at: 2), in: s)!]))
                    let name = String(s[Range(m.range(at: 3), in: s)!])
                    // A secret is two keys: inline and `_file`.
                    for n in kind == "secret" ? [name, name + "_file"] : [name] { keys.insert(reader == "r" ? n : current + "." + n) }
                }
            }
        }
        return keys
    }

    static func keysPrinted() throws -> Set<String> {
        let text = try SquallConfig.resolve(
            fileText: "[private]\nenabled = true\nrequire_https = false\n[admin]\nkey = \"k0123456789abcdef0123456789abcdef\"\n",
            overrides: ConfigOverrides(), environment: [:]
        ).toml
        var (keys, section) = (Set<String>(), "")
        for line in text.split(separator: "\n") {
            if line.hasPrefix("[") {
                section = String(line.dropFirst().dropLast())
            } else if let eq = line.range(of: " = ") {
                let name = line[..<eq.lowerBound].trimmingCharacters(in: CharacterSet(charactersIn: "# "))
                keys.insert(section.isEmpty ? name : section + "." + name)
            }
        }
        return keys
    }

    @Test func everyKeyIsInSquallToml5() throws {
        let page = try String(contentsOf: repoRoot.appendingPathComponent("docs/man/squall.toml.5"), encoding: .utf8)
        var listed = Set<String>()
        for line in page.split(separator: "\n") where line.hasPrefix(".It ") {
            for word in line.split(separator: " ") where word != ".It" && word != "Cm" && word != "," { listed.insert(String(word)) }
        }
        let keys = try Self.keysInSource().union(Self.keysPrinted())
        #expect(keys.count > 70)
        for key in keys.sorted() { #expect(listed.contains(key), "squall.toml(5) does not list \(key)") }
    }
}
