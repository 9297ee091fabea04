import Foundation
import PrivateCore
import Testing
import TrackerCore
import TrackerServer
import TrackerTLS
import TrackerTestSupport

/// Real BitTorrent clients from Debian (`make test` installs aria2 and transmission-cli) find
/// each other through Squall alone: DHT, local discovery and peer exchange are off, so the
/// tracker's reply is the only way the leecher can learn of the seeder.
@Suite(.serialized) struct InteropTests {
    struct Workspace {
        let dir: URL
        let payload: URL
        var seedDir: URL { dir.appendingPathComponent("seed") }
        var leechDir: URL { dir.appendingPathComponent("leech") }

        init() throws {
            dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("squall-interop-\(UUID().uuidString)")
            for d in ["seed", "leech", "transmission"] {
                try FileManager.default.createDirectory(at: dir.appendingPathComponent(d), withIntermediateDirectories: true)
            }
            payload = dir.appendingPathComponent("seed/payload.bin")
            var rng = SystemRandomNumberGenerator()
            let bytes = (0..<(2 << 20) / 8).flatMap { _ in withUnsafeBytes(of: rng.next()) { Array($0) } }
            try Data(bytes).write(to: payload)
        }

        /// A private torrent of the payload announcing to `urls` (one tier each).
        func torrent(_ name: String, announce urls: [String]) throws -> String {
            let path = dir.appendingPathComponent(name).path
            let status = try InteropTests.runTool(
                "/usr/bin/transmission-create", ["-p"] + urls.flatMap { ["-t", $0] } + ["-o", path, payload.path])
            guard status == 0 else { throw TestClient.Failure(description: "transmission-create failed: \(status)") }
            return path
        }

        func cleanup() { try? FileManager.default.removeItem(at: dir) }
    }

    @discardableResult
    static func runTool(_ path: String, _ args: [String]) throws -> Int32 {
        let p = try start(path, args)
        p.waitUntilExit()
        return p.terminationStatus
    }

    static func aria2(dir: URL, torrent: String, port: Int, seed: Bool) -> [String] {
        [
            "--dir=\(dir.path)", "--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false",
            "--enable-peer-exchange=false", "--listen-port=\(port)", "--summary-interval=0", "--console-log-level=warn",
        ] + (seed ? ["--seed-ratio=0.0", "--check-integrity=true"] : ["--seed-time=0"]) + [torrent]
    }

    /// Kills a client at once. SIGKILL: clients started from the test process can inherit an
    /// ignored SIGTERM, and a seeder that outlives its test would linger on the machine.
    static func stop(_ p: Process) {
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
    }

    /// Starts a client; its standard output goes to `output` if given.
    static func start(_ path: String, _ args: [String], environment: [String: String] = [:], output: URL? = nil) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        if let output {
            _ = FileManager.default.createFile(atPath: output.path, contents: nil)
            p.standardOutput = try FileHandle(forWritingTo: output)
        } else {
            p.standardOutput = FileHandle.nullDevice
        }
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Waits (bounded) until the tracker counts a seeder for the torrent.
    static func waitForSeeder(_ t: RunningTracker, timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await t.store.totals().seeders < 1 {
            guard ContinuousClock.now < deadline else { throw TestClient.Failure(description: "no seeder announced") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Runs the leecher to completion (bounded) and checks it got the payload byte for byte.
    static func leech(_ w: Workspace, torrent: String) throws {
        let leecher = try start("/usr/bin/aria2c", aria2(dir: w.leechDir, torrent: torrent, port: try FreePort.next(), seed: false))
        let deadline = Date().addingTimeInterval(90)
        while leecher.isRunning && Date() < deadline { usleep(100_000) }
        stop(leecher)
        let got = try? Data(contentsOf: w.leechDir.appendingPathComponent("payload.bin"))
        #expect(got == (try Data(contentsOf: w.payload)), "the leecher downloaded the payload through the tracker's peers")
        #expect(leecher.terminationStatus == 0)
    }

    @Test func aria2SeedsOverIPv6AndAria2LeechesOverIPv4() async throws {
        let t = try await RunningTracker.start()
        let w = try Workspace()
        defer { w.cleanup() }
        let seedTorrent = try w.torrent("v6.torrent", announce: ["http://[::1]:\(t.port)/announce"])
        let leechTorrent = try w.torrent("v4.torrent", announce: ["http://127.0.0.1:\(t.port)/announce"])
        let seeder = try Self.start(
            "/usr/bin/aria2c", Self.aria2(dir: w.seedDir, torrent: seedTorrent, port: try FreePort.next(), seed: true))
        defer { Self.stop(seeder) }
        try await Self.waitForSeeder(t)
        // The seeder is known only by its IPv6 endpoint; the IPv4 leecher must get it in peers6.
        try Self.leech(w, torrent: leechTorrent)
        try await t.stop()
    }

    @Test func transmissionSeedsOverIPv4AndAria2LeechesOverIPv6() async throws {
        let t = try await RunningTracker.start()
        let w = try Workspace()
        defer { w.cleanup() }
        let seedTorrent = try w.torrent("v4.torrent", announce: ["http://127.0.0.1:\(t.port)/announce"])
        let leechTorrent = try w.torrent("v6.torrent", announce: ["http://[::1]:\(t.port)/announce"])
        // Transmission 3.00 will not dial loopback peers it hears of from a tracker, but it accepts
        // incoming ones: so it seeds here, and aria2 dials it.
        let settings =
            #"{"dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false, "port-forwarding-enabled": false, "peer-port": \#(try FreePort.next())}"#
        try settings.write(to: w.dir.appendingPathComponent("transmission/settings.json"), atomically: true, encoding: .utf8)
        let seeder = try Self.start(
            "/usr/bin/transmission-cli", ["-g", w.dir.appendingPathComponent("transmission").path, "-w", w.seedDir.path, seedTorrent])
        defer { Self.stop(seeder) }
        try await Self.waitForSeeder(t)
        try Self.leech(w, torrent: leechTorrent)
        try await t.stop()
    }

    /// The torrent's v1 info_hash in hex, as transmission-show prints it.
    static func infoHash(_ torrent: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/transmission-show")
        p.arguments = [torrent]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard let line = text.split(separator: "\n").first(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix("Hash:") }) else {
            throw TestClient.Failure(description: "no hash in transmission-show's output")
        }
        return line.split(separator: " ").last.map { String($0).lowercased() } ?? ""
    }

    /// A client started on a torrent (its path) that trusts the CA at the given path.
    typealias Client = (_ w: Workspace, _ torrent: String, _ ca: String) throws -> Process

    /// aria2 leeching into the workspace's leech directory, verifying the tracker with the CA.
    static func aria2Leecher(_ w: Workspace, _ torrent: String, _ ca: String) throws -> Process {
        try start(
            "/usr/bin/aria2c", ["--ca-certificate=\(ca)"] + aria2(dir: w.leechDir, torrent: torrent, port: try FreePort.next(), seed: false)
        )
    }

    static let adminKey = "interop-key-" + String(repeating: "0123456789", count: 3)
    /// User `n`'s passkey.
    static func passkey(_ n: Int) -> String { String(repeating: "b", count: 30) + "0\(n)" }

    /// Runs `body` against a private tracker over HTTPS only (its TLS port, a workspace, the CA
    /// path) that knows group 3 and users 1 and 2.
    func withPrivateTracker(_ body: (_ t: RunningTracker, _ tls: Int, _ w: Workspace, _ ca: String) async throws -> Void) async throws {
        let f = try TLSFixtures()
        defer { f.cleanup() }
        try await withRunningTracker(tls: try ReloadableTLSContexts(pairs: [(f.cert, f.key)])) { c in
            c.privateMode.enabled = true
            c.admin.key = Self.adminKey
            c.admin.listen = [ListenAddress(host: "127.0.0.1", port: 0)]
        } _: { t in
            let w = try Workspace()
            defer { w.cleanup() }
            try Self.seedSite(t)
            try await body(t, try #require(t.tlsPort), w, f.ca)
        }
    }

    /// The site's calls for group 3 and users 1 and 2 (passkeys `passkey(n)`).
    static func seedSite(_ t: RunningTracker) throws {
        try site(
            t, "PUT", "groups",
            #"{"id":3,"slug":"user","download_slots":null,"is_immune":false,"is_freeleech":false,"is_double_upload":false}"#)
        for n in 1...2 {
            try site(
                t, "PUT", "users",
                #"{"id":\#(n),"group_id":3,"passkey":"\#(passkey(n))","new_passkey":null,"can_download":true,"num_seeding":0,"num_leeching":0,"is_donor":false,"is_lifetime":false}"#
            )
        }
    }

    /// The site's API call, which must answer 200.
    static func site(_ t: RunningTracker, _ method: String, _ route: String, _ body: String) throws {
        #expect(try t.admin(method, "/announce/\(adminKey)/\(route)", body).status == 200, "\(method) \(route)")
    }

    /// Registers the torrent as id 1 (approved unless `deleted`).
    static func register(_ t: RunningTracker, hash: String, deleted: Bool = false) throws {
        try site(
            t, "PUT", "torrents",
            #"{"id":1,"status":1,"info_hash":"\#(hash)","is_deleted":\#(deleted),"seeders":0,"leechers":0,"times_completed":0,"download_factor":100,"upload_factor":100}"#
        )
    }

    /// `seed` starts a seeder announcing at user 1's passkey URL on each of `seedHosts`, then
    /// `leech` downloads at user 2's on each of `leechHosts`, both verifying the tracker's
    /// certificate; the leecher must get the payload. `downloaded` runs once it has, while both
    /// clients still run.
    func privateSwarm(
        seedHosts: [String], leechHosts: [String], seed: Client, leech: Client = InteropTests.aria2Leecher,
        downloaded: (_ t: RunningTracker, _ hash: InfoHash, _ w: Workspace) async throws -> Void = { _, _, _ in }
    ) async throws {
        try await withPrivateTracker { t, tls, w, ca in
            let seedTorrent = try w.torrent("seed.torrent", announce: seedHosts.map { "https://\($0):\(tls)/announce/\(Self.passkey(1))" })
            let leechTorrent = try w.torrent(
                "leech.torrent", announce: leechHosts.map { "https://\($0):\(tls)/announce/\(Self.passkey(2))" })
            let hash = try Self.infoHash(seedTorrent)
            #expect(try Self.infoHash(leechTorrent) == hash, "one private torrent, two passkey URLs")
            try Self.register(t, hash: hash)
            let seeder = try seed(w, seedTorrent, ca)
            defer { Self.stop(seeder) }
            try await Self.waitForSeeder(t)
            let leecher = try leech(w, leechTorrent, ca)
            defer { Self.stop(leecher) }
            let payload = try Data(contentsOf: w.payload)
            let deadline = Date().addingTimeInterval(90)
            func done() -> Bool { (try? Data(contentsOf: w.leechDir.appendingPathComponent("payload.bin"))) == payload }
            while leecher.isRunning && !done() && Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }
            #expect(done(), "the leecher downloaded the payload through the private tracker")
            guard done() else { return }
            try await downloaded(t, InfoHash(try #require(Bytes20(hex: hash))), w)
            // The site's torrent page lists the seeder under its user, each peer once (a
            // dual-stack peer too: its two endpoints are one peer).
            let torrent = String(decoding: try t.admin("GET", "/announce/\(Self.adminKey)/torrents/1").body, as: UTF8.self)
            #expect(torrent.components(separatedBy: "\"1-").count == 2, "\(torrent)")
            #expect(torrent.components(separatedBy: "\"2-").count <= 2, "\(torrent)")
        }
    }

    /// libtorrent on `torrent`, its lines (see the script) going to `log`.
    /// With `seed`, it seeds from the seed directory and announces as often as the tracker asks.
    static func libtorrent(_ w: Workspace, _ torrent: String, _ ca: String, log: String = "libtorrent.log", seed: Bool = false) throws
        -> Process
    {
        try start(
            "/usr/bin/python3",
            [
                repoRoot.path + "/Tests/Interop/libtorrent-client.py", torrent, (seed ? w.seedDir : w.leechDir).path,
                "\(try FreePort.next())",
            ]
                + (seed ? ["3"] : []),
            environment: ["SSL_CERT_FILE": ca], output: w.dir.appendingPathComponent(log))
    }

    /// Transmission leeching into the leech directory (its own configuration directory),
    /// verifying the tracker with the CA. It does not dial loopback peers a tracker names, so
    /// its seeder must dial it.
    static func transmissionLeecher(_ w: Workspace, _ torrent: String, _ ca: String) throws -> Process {
        let config = w.dir.appendingPathComponent("transmission-leech")
        try FileManager.default.createDirectory(at: config, withIntermediateDirectories: true)
        let settings =
            #"{"dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false, "port-forwarding-enabled": false, "peer-port": \#(try FreePort.next())}"#
        try settings.write(to: config.appendingPathComponent("settings.json"), atomically: true, encoding: .utf8)
        return try start(
            "/usr/bin/transmission-cli", ["-g", config.path, "-w", w.leechDir.path, torrent], environment: ["CURL_CA_BUNDLE": ca])
    }

    /// A failed announce or a warning in libtorrent's lines. libtorrent notes that its IPv4
    /// socket cannot reach a [::1] URL (and the reverse): a skip, not a failure.
    static func isFailure(_ line: Substring) -> Bool {
        (line.hasPrefix("warning ") || line.hasPrefix("error ")) && !line.contains("skipping tracker announce (unreachable)")
    }

    static func lines(_ w: Workspace, log: String = "libtorrent.log") -> [Substring] {
        String(decoding: (try? Data(contentsOf: w.dir.appendingPathComponent(log))) ?? Data(), as: UTF8.self).split(separator: "\n")
    }

    @Test func aria2SeedsAndLeechesAPrivateTorrentOverHTTPSWithPasskeys() async throws {
        try await privateSwarm(seedHosts: ["[::1]"], leechHosts: ["127.0.0.1"]) { w, torrent, ca in
            try Self.start(
                "/usr/bin/aria2c",
                ["--ca-certificate=\(ca)"] + Self.aria2(dir: w.seedDir, torrent: torrent, port: try FreePort.next(), seed: true))
        }
    }

    /// Transmission (libcurl, the CA from CURL_CA_BUNDLE) seeds over IPv4, aria2 leeches over IPv6.
    @Test func transmissionSeedsAPrivateTorrentOverHTTPSToAria2() async throws {
        try await privateSwarm(seedHosts: ["127.0.0.1"], leechHosts: ["[::1]"]) { w, torrent, ca in
            let settings =
                #"{"dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false, "port-forwarding-enabled": false, "peer-port": \#(try FreePort.next())}"#
            try settings.write(to: w.dir.appendingPathComponent("transmission/settings.json"), atomically: true, encoding: .utf8)
            return try Self.start(
                "/usr/bin/transmission-cli", ["-g", w.dir.appendingPathComponent("transmission").path, "-w", w.seedDir.path, torrent],
                environment: ["CURL_CA_BUNDLE": ca])
        }
    }

    /// libtorrent leeches over IPv4 and IPv6 from one peer_id (one tracker URL per family) from
    /// aria2 seeding over IPv4. The tracker holds it as one peer of user 2 with both endpoints,
    /// and both announces of the dual-stack pair get the seeder: the second, inside the dedup
    /// window, is exempt from the min interval (UNIT3D-Announce answers it with an empty list).
    @Test func libtorrentLeechesAPrivateTorrentOverBothFamiliesWithOnePeerID() async throws {
        let hosts = ["127.0.0.1", "[::1]"]
        try await privateSwarm(seedHosts: ["127.0.0.1"], leechHosts: hosts) { w, torrent, ca in
            try Self.start(
                "/usr/bin/aria2c",
                ["--ca-certificate=\(ca)"] + Self.aria2(dir: w.seedDir, torrent: torrent, port: try FreePort.next(), seed: true))
        } leech: { w, torrent, ca in
            try Self.libtorrent(w, torrent, ca)
        } downloaded: { t, hash, w in
            let rows = try #require(try await t.store.peerRows(of: hash))
            let mine = rows.filter { $0.user == 2 }
            #expect(mine.count == 1, "one peer for both families: \(rows)")
            #expect(mine.first?.v4 != nil && mine.first?.v6 != nil, "with an IPv4 and an IPv6 endpoint: \(rows)")
            let log = Self.lines(w)
            for host in hosts {
                let replies = log.filter { $0.hasPrefix("reply https://\(host):") }
                #expect(
                    replies.contains { ($0.split(separator: " ").last.flatMap { Int($0) } ?? 0) >= 1 },
                    "a reply over \(host) listed the seeder: \(log)")
            }
            let failures = log.filter(Self.isFailure)
            #expect(failures.isEmpty, "\(log)")
        }
    }

    /// A real client is told the contract's texts: libtorrent announcing with an unknown
    /// passkey, then for a deleted torrent, then with its peer_id prefix blacklisted, shows each
    /// failure reason, and the tracker holds no peer.
    @Test func libtorrentIsToldAboutAWrongPasskeyADeletedTorrentAndABlacklistedClient() async throws {
        try await withPrivateTracker { t, tls, w, ca in
            let url = "https://127.0.0.1:\(tls)/announce/"
            let wrong = try w.torrent("wrong.torrent", announce: [url + String(repeating: "c", count: 32)])
            let right = try w.torrent("right.torrent", announce: [url + Self.passkey(1)])
            let hash = try Self.infoHash(right)
            try Self.register(t, hash: hash)
            /// Runs libtorrent until it reports an error (bounded) and returns that line.
            func refusal(_ torrent: String, _ name: String) async throws -> String {
                let p = try Self.libtorrent(w, torrent, ca, log: name)
                defer { Self.stop(p) }
                let deadline = ContinuousClock.now + .seconds(30)
                while ContinuousClock.now < deadline {
                    if let line = Self.lines(w, log: name).first(where: Self.isFailure) { return String(line) }
                    try await Task.sleep(for: .milliseconds(100))
                }
                return "no error within 30 s: \(Self.lines(w, log: name))"
            }
            let unknown = try await refusal(wrong, "wrong.log")
            #expect(unknown.contains(PrivateTexts.unknownPasskey), "\(unknown)")
            try Self.register(t, hash: hash, deleted: true)
            let deleted = try await refusal(right, "deleted.log")
            #expect(deleted.contains(PrivateTexts.torrentDeleted), "\(deleted)")
            try Self.register(t, hash: hash)
            try Self.site(t, "PUT", "blacklisted-agents", #"{"peer_id_prefix":"-LT"}"#)
            let blacklisted = try await refusal(right, "blacklisted.log")
            #expect(blacklisted.contains(PrivateTexts.blacklistedClient), "\(blacklisted)")
            #expect(try await t.store.totals().peers == 0)
        }
    }
}
