import Foundation
import Logging
import Testing
import TrackerCore
import TrackerProtocol
import TrackerServer
import TrackerTestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// SIGHUP reloads the whole file: live keys at once, restart keys kept and named, a bad file
/// changes nothing.
@Suite struct ConfigReloadTests {
    /// What a reload makes of a new file, key by key (pure).
    @Test func aReloadTakesTheLiveKeysKeepsTheRestartKeysAndNamesBoth() throws {
        var running = SquallConfig()
        try running.apply(toml: "[http]\nlisten = [\"127.0.0.1:7000\"]\n[announce]\nmin_interval = 900\n")
        var fresh = running
        try fresh.apply(
            toml: """
                log_level = "debug"
                storage = "redis://127.0.0.1:6379"
                trusted_proxies = ["10.0.0.0/8"]
                [http]
                listen = ["127.0.0.1:7001"]
                threads = 3
                header_timeout = 4
                max_connections_per_source = 9
                [announce]
                interval = 1200
                min_interval = 300
                [scrape]
                full_scrape = true
                [stats]
                allow = ["192.0.2.0/24"]
                token = "s3cr3t-token"
                [https]
                certificates = [{ cert = "/c.pem", key = "/k.pem" }]
                """)
        let (next, live, restart) = running.reloaded(from: fresh)
        #expect(
            live == [
                "announce.interval", "announce.min_interval", "http.header_timeout", "http.max_connections_per_source", "log_level",
                "scrape.full_scrape",
                "stats.allow", "stats.token", "trusted_proxies",
            ])
        // No HTTPS at start: certificates would need its listeners, which only a restart binds.
        #expect(restart == ["http.listen", "http.threads", "https.certificates", "storage"])
        #expect(next.logLevel == "debug" && next.announce.minInterval == 300 && next.http.headerTimeout == 4)
        #expect(next.stats.token == "s3cr3t-token" && next.scrape.fullScrape && next.trustedProxies == fresh.trustedProxies)
        #expect(next.storage == "memory" && next.http.listen == running.http.listen && next.http.threads == 0)
        #expect(next.announce.interval == 1200 && next.https.certificates.isEmpty)
        // The same file again changes nothing.
        let again = next.reloaded(from: fresh)
        #expect(again.live.isEmpty && again.config == next)
        // A secret that changes is named, never shown: the names are all a reload logs.
        var rotated = fresh
        rotated.stats.token = "an0ther-token"
        #expect(next.reloaded(from: rotated).live == ["stats.token"])
        rotated.redis.password = "pw"
        #expect(next.reloaded(from: rotated).restart.contains("redis.password"))
    }

    /// With no `min_interval` in the file, the minimum is half the new interval.
    @Test func theDefaultMinimumFollowsTheFilesInterval() throws {
        let running = SquallConfig()
        var fresh = running
        try fresh.apply(toml: "[announce]\ninterval = 1000\n")
        let (next, live, restart) = running.reloaded(from: fresh)
        #expect(next.announce.interval == 1000 && next.announce.policy.minInterval == 500)
        #expect(live == ["announce.interval", "announce.min_interval"] && restart.isEmpty)
    }

    /// A longer interval from a reload keeps peers longer at once; a shorter one never drops a
    /// peer that was told the longer interval before it announces again.
    @Test func aReloadedIntervalKeepsPeersAtLeastAsLongAsAnyClientWasTold() async throws {
        let t = try await RunningTracker.start()
        _ = try t.get("127.0.0.1", announceTarget(hash: testHash(80), peer: testPeer("early"), left: 1))
        var longer = t.server.live.current.config
        longer.announce.interval = 3600
        t.server.reconfigure(longer)
        t.clock.advance(by: 1900)
        _ = try await t.store.expire()
        #expect(try await t.store.totals().peers == 1, "past the old TTL (1860 s), within the new one (3660 s)")
        var shorter = longer
        shorter.announce.interval = 600
        t.server.reconfigure(shorter)
        let told = try BencodeValue.decode(try t.get("127.0.0.1", announceTarget(hash: testHash(81), peer: testPeer("late"), left: 1)).body)
        #expect(told["interval"]?.intValue == 600)
        t.clock.advance(by: 1000)
        _ = try await t.store.expire()
        #expect(try await t.store.totals().peers == 2, "a shorter interval keeps the longer TTL")
        t.clock.advance(by: 3660)
        _ = try await t.store.expire()
        #expect(try await t.store.totals().peers == 0)
        try await t.stop()
    }

    /// The binary: one SIGHUP changes the announce minimum, the statistics' access rule, the
    /// trusted proxies and the log level at once on the same listener and connection, names
    /// `http.listen` as needing a restart and keeps them; a bad file
    /// then logs one error naming the key and changes nothing; the swarm is untouched.
    @Test func sighupReloadsTheWholeFileAndABadFileChangesNothing() throws {
        let p = ProcessTests()
        let v1 = """
            log_level = "info"
            [http]
            listen = ["127.0.0.1:0"]
            [announce]
            min_interval = 900
            [stats]
            allow = ["127.0.0.0/8"]
            """
        let file = try p.tempFile(v1)
        defer { unlink(file) }
        let squall = try SquallProcess(["--config", file])
        #expect(squall.waitFor(" ready"), "\(squall.log)")
        let port = try #require(squall.ports("http").first, "\(squall.log)")
        let kept = try TestClient(host: "127.0.0.1", port: port)
        // The same peer's announce on the connection opened first, and a log line.
        let announceOnKept: () throws -> String = {
            String(decoding: try Self.get(kept, announceTarget(hash: testHash(70), peer: testPeer("one"), left: 1)).body, as: UTF8.self)
        }
        let line: (String) -> Substring = { text in squall.log.split(separator: "\n").first { $0.contains(text) } ?? "" }
        #expect(try announceOnKept().contains("12:min intervali900e"))
        #expect(try TestClient.get("127.0.0.1", port, "/stats.json").status == 200)
        #expect(!squall.log.contains(" debug "))

        try """
        log_level = "debug"
        trusted_proxies = ["127.0.0.1/32"]
        [http]
        listen = ["127.0.0.1:0", "[::1]:0"]
        [announce]
        interval = 1200
        min_interval = 300
        [stats]
        allow = ["10.0.0.0/8"]
        """.write(toFile: file, atomically: true, encoding: .utf8)
        squall.signal(SIGHUP)
        #expect(squall.waitFor("keeping their running values"), "\(squall.log)")
        let reloaded = line("configuration reloaded")
        #expect(
            reloaded.contains("changed=announce.interval announce.min_interval log_level stats.allow trusted_proxies"), "\(reloaded)")
        let restart = line("need a restart")
        #expect(restart.contains(" keys=http.listen ["), "\(restart)")

        // The connection opened before the signal gets the new interval and minimum.
        let second = try announceOnKept()
        #expect(second.contains("12:min intervali300e") && second.contains("8:intervali1200e"), "\(second)")
        #expect(try TestClient.get("127.0.0.1", port, "/stats.json").status == 403)
        // 127.0.0.1 is a trusted proxy now: the client it names is the peer.
        let proxied = try TestClient.get(
            "127.0.0.1", port, announceTarget(hash: testHash(70), peer: testPeer("two"), left: 1), headers: ["X-Forwarded-For: 203.0.113.9"]
        )
        #expect(
            proxied.body.starts(with: Array("d8:completei0e10:downloadedi0e11:external ip4:".utf8) + [203, 0, 113, 9]), "\(proxied.body)")
        // Debug lines now, from the logger made at start.
        #expect(squall.waitFor(" debug "))
        // No listener on ::1: listen addresses change with a restart only.
        #expect(throws: (any Error).self) { try TestClient(host: "::1", port: port) }

        try "[announce]\nmin_interval = \"soon\"\n[stats]\nallow = [\"127.0.0.0/8\"]\n".write(
            toFile: file, atomically: true, encoding: .utf8)
        squall.signal(SIGHUP)
        #expect(squall.waitFor("configuration reload failed, nothing changed"))
        let failed = line("reload failed")
        #expect(failed.contains("announce.min_interval"), "\(failed)")
        let third = try announceOnKept()
        #expect(third.contains("12:min intervali300e") && third.contains("10:incompletei2e"), "\(third)")
        #expect(try TestClient.get("127.0.0.1", port, "/stats.json").status == 403)
        #expect(squall.stop() == 0)
    }

    /// Each reload is counted by result, and the last one's success is a gauge (what the
    /// SquallConfigReloadFailed alert reads); a failed one changes nothing.
    @Test func reloadsAreCountedAndAFailureShowsInTheGauge() async throws {
        let t = try await RunningTracker.start()
        let next = Locked<Result<SquallConfig, ConfigError>>(.success(t.server.live.current.config))
        let service = ConfigReloadService(
            server: t.server, tls: nil, resolve: { try next.withLock { $0 }.get() }, logger: Logger(label: "test"))
        #expect(try Self.gauge(t, "squall_config_last_reload_successful") == 1)
        next.withLock {
            var c = t.server.live.current.config
            c.announce.defaultNumwant = 7
            $0 = .success(c)
        }
        service.reload()
        #expect(t.server.live.current.config.announce.defaultNumwant == 7)
        #expect(try t.metric(#"squall_config_reloads_total{result="applied"}"#) == 1)
        next.withLock { $0 = .failure(ConfigError(key: "announce.default_numwant", "must be a positive integer")) }
        service.reload()
        #expect(t.server.live.current.config.announce.defaultNumwant == 7)
        #expect(try t.metric(#"squall_config_reloads_total{result="failed"}"#) == 1)
        #expect(try Self.gauge(t, "squall_config_last_reload_successful") == 0)
        try await t.stop()
    }

    /// The site's `POST /config/reload` runs the same reload and answers with
    /// UNIT3D-Announce's texts: 200 when applied, 500 with the reason when nothing changed.
    @Test func theSitesConfigReloadRunsTheSameReload() async throws {
        let t = try await RunningTracker.start(PrivateModeTests.configure)
        let next = Locked<Result<SquallConfig, ConfigError>>(.success(t.server.live.current.config))
        let service = ConfigReloadService(
            server: t.server, tls: nil, resolve: { try next.withLock { $0 }.get() }, logger: Logger(label: "test"))
        t.server.onReload { service.reload() }
        next.withLock {
            var c = t.server.live.current.config
            c.scrape.maxHashes = 5
            $0 = .success(c)
        }
        let path = "/announce/\(PrivateModeTests.apiKey)/config/reload"
        let ok = try t.admin("POST", path)
        #expect(ok.status == 200 && String(decoding: ok.body, as: UTF8.self) == "Successfully reloaded config.")
        #expect(t.server.live.current.config.scrape.maxHashes == 5)
        next.withLock { $0 = .failure(ConfigError(key: "scrape.max_hashes", "must be between 1 and 1000")) }
        let bad = try t.admin("POST", path)
        #expect(bad.status == 500)
        #expect(
            String(decoding: bad.body, as: UTF8.self)
                == "Ignoring config reload. Failed to parse config: scrape.max_hashes: must be between 1 and 1000")
        #expect(t.server.live.current.config.scrape.maxHashes == 5)
        #expect(try t.admin("GET", path).status == 405)
        try await t.stop()
    }

    /// A gauge's value in /metrics (nil when absent).
    static func gauge(_ t: RunningTracker, _ name: String) throws -> Double? {
        let text = String(decoding: try t.get("::1", "/metrics").body, as: UTF8.self)
        return text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    /// One keep-alive request on `client`.
    static func get(_ client: TestClient, _ target: String) throws -> TestClient.Response {
        try client.send("GET \(target) HTTP/1.1\r\nHost: localhost\r\n\r\n")
        return try client.readResponse()
    }

    /// A reload reads `https.certificates` again: a pair at new paths is served at once.
    @Test func aReloadServesCertificatesFromNewPaths() throws {
        let p = ProcessTests()
        let f = try TLSFixtures()
        defer { f.cleanup() }
        let tls =
            "[https]\nlisten = [\"127.0.0.1:0\"]\ncertificates = [{ cert = \"CERT\", key = \"KEY\" }]\n[http]\nlisten = [\"127.0.0.1:0\"]\n"
        let file = try p.tempFile(tls.replacingOccurrences(of: "CERT", with: f.cert).replacingOccurrences(of: "KEY", with: f.key))
        defer { unlink(file) }
        let squall = try SquallProcess(["--config", file])
        #expect(squall.waitFor(" ready"), "\(squall.log)")
        let port = try #require(squall.ports("https").first, "\(squall.log)")
        #expect(try servedSerial(port, ca: f.ca) == fileSerial(f.cert))
        let (cert, key) = try f.issue("moved", cn: "localhost", serial: "C3")
        try tls.replacingOccurrences(of: "CERT", with: cert).replacingOccurrences(of: "KEY", with: key).write(
            toFile: file, atomically: true, encoding: .utf8)
        squall.signal(SIGHUP)
        #expect(squall.waitFor("configuration reloaded"))
        #expect(squall.log.contains("changed=https.certificates"), "\(squall.log)")
        #expect(try servedSerial(port, ca: f.ca) == "C3")
        #expect(squall.stop() == 0)
    }

    /// The connection caps a reload sets hold for new connections at once; connections open
    /// beyond a lowered cap stay open until they close.
    @Test func aLoweredPerSourceCapHoldsForNewConnectionsAtOnce() async throws {
        let t = try await RunningTracker.start { $0.http.maxConnectionsPerSource = 5 }
        let held = try (0..<3).map { _ in try TestClient.answeredAndHeld("127.0.0.1", t.port) }
        var lowered = t.server.live.current.config
        lowered.http.maxConnectionsPerSource = 2
        t.server.reconfigure(lowered)
        #expect(try TestClient.closedAtAccept("127.0.0.1", t.port), "three open from 127.0.0.1 and a cap of 2: a fourth is closed at once")
        // The three open before still answer.
        for c in held {
            try c.send("GET /health HTTP/1.1\r\n\r\n")
            #expect(try c.readResponse().status == 200)
        }
        // Two close: one open, under the cap, so a new one gets in.
        for c in held.prefix(2) {
            try c.send("GET /health HTTP/1.1\r\nConnection: close\r\n\r\n")
            _ = try c.readResponse()
            #expect(try c.closedByPeer())
        }
        #expect(try await TestClient.eventuallyServed("127.0.0.1", t.port))
        try await t.stop()
    }
}
