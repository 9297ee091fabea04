import Foundation
import Synchronization
import Testing
import TrackerCore
import TrackerProtocol
import TrackerTestSupport

/// The `squall` binary as a UNIT3D site would run it: private mode over HTTPS, the registry
/// loaded from UNIT3D's tables on a real MariaDB, the site's API on its own listener, logging at
/// trace; and afterwards not one passkey, nor the API key, anywhere in its log.
@Suite struct PrivateProcessTests {
    static let apiKey = "proc-key-" + String(repeating: "9876543210", count: 3)
    static func passkey(_ n: Int) -> String { String(repeating: "a", count: 30) + (n < 10 ? "0\(n)" : "\(n)") }

    /// curl's body as text.
    func curl(_ args: [String]) throws -> String { String(decoding: try TrackerTestSupport.curl(args).body, as: UTF8.self) }

    @Test func aPrivateTrackerFromUnit3dOverHTTPSLogsNoSecret() throws {
        let db = try MariaDBServer()
        try db.loadUNIT3DFixture()
        let f = try TLSFixtures()
        defer { f.cleanup() }
        let config = f.dir + "/squall.toml"
        try """
        log_level = "trace"
        [http]
        listen = ["127.0.0.1:0"]
        [https]
        listen = ["127.0.0.1:0"]
        certificates = [{ cert = "\(f.cert)", key = "\(f.key)" }]
        [private]
        enabled = true
        source = "unit3d"
        database_url = "\(db.url)"
        [admin]
        listen = ["127.0.0.1:0"]
        key = "\(Self.apiKey)"
        [accounting]
        journal_dir = "\(f.dir)/journal"
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let squall = try SquallProcess(["--config", config])
        #expect(squall.waitFor("[TrackerServer] ready"), "\(squall.log)")
        #expect(squall.log.contains("users=9"), "the fixture's nine users not deleted")
        let https = try #require(squall.ports("https").first, "\(squall.log)")
        let http = try #require(squall.ports("http").first)
        let admin = try #require(squall.adminPort, "\(squall.log)")
        let hash = [UInt8](repeating: 1, count: 20)
        func target(_ user: Int, peer: String = "-qB5000-000000000001") -> String {
            announceTarget(hash: hash, peer: Array(peer.utf8), port: 51413, left: 1).replacingOccurrences(
                of: "/announce?", with: "/announce/\(Self.passkey(user))?")
        }
        let ok = try curl(["--cacert", f.ca, "-A", "qBittorrent/5.0.0", "https://localhost:\(https)\(target(1))"])
        #expect(ok.contains("8:completei") && !ok.contains("failure"), "\(ok)")
        // Plain HTTP: refused, telling the client to use HTTPS.
        let plain = try curl(["-A", "qBittorrent/5.0.0", "http://127.0.0.1:\(http)\(target(1))"])
        #expect(plain.contains("requires HTTPS"))
        #expect(
            try curl(["--cacert", f.ca, "-A", "qBittorrent/5.0.0", "https://localhost:\(https)\(target(77))"]).contains(
                "Passkey does not exist"))
        // The site changes user 1's passkey; the old one stops working at once.
        let api = "http://127.0.0.1:\(admin)/announce/\(Self.apiKey)"
        let put = try curl([
            "-X", "PUT", "-H", "Content-Type: application/json", "-w", "%{http_code}", "--data",
            #"{"id":1,"group_id":3,"passkey":"\#(Self.passkey(1))","new_passkey":"\#(Self.passkey(61))","can_download":true,"num_seeding":0,"num_leeching":0,"is_donor":false,"is_lifetime":false}"#,
            "\(api)/users",
        ])
        #expect(put == "200")
        #expect(
            try curl(["--cacert", f.ca, "-A", "qBittorrent/5.0.0", "https://localhost:\(https)\(target(1))"]).contains(
                "Passkey does not exist"))
        #expect(!(try curl(["--cacert", f.ca, "-A", "qBittorrent/5.0.0", "https://localhost:\(https)\(target(61))"]).contains("failure")))
        #expect(try curl(["\(api)/users/1"]).contains(Self.passkey(61)), "GET /users returns the passkey to the site")
        #expect(squall.stop() == 0)
        for secret in [Self.passkey(1), Self.passkey(61), Self.passkey(77), Self.apiKey] {
            #expect(!squall.log.contains(secret), "the log shows a secret")
        }
        #expect(squall.log.contains("trace") || squall.log.contains("debug"), "the log was at trace level")
    }

    @Test func theApiRegistryOutlivesARestartInTheStateFile() throws {
        let dir = NSTemporaryDirectory() + "squall-state-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = dir + "/squall.toml"
        try """
        [http]
        listen = ["127.0.0.1:0"]
        [private]
        enabled = true
        require_https = false
        state_file = "\(dir)/registry.state"
        [admin]
        listen = ["127.0.0.1:0"]
        key = "\(Self.apiKey)"
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let hash = [UInt8](repeating: 7, count: 20)
        let target = announceTarget(hash: hash, peer: Array("-qB5000-000000000001".utf8), port: 51413, left: 1).replacingOccurrences(
            of: "/announce?", with: "/announce/\(Self.passkey(3))?")
        var squall = try SquallProcess(["--config", config])
        #expect(squall.waitFor(" ready"), "\(squall.log)")
        var api = "http://127.0.0.1:\(try #require(squall.adminPort))/announce/\(Self.apiKey)"
        for (route, body) in [
            ("groups", #"{"id":3,"slug":"user","download_slots":null,"is_immune":false,"is_freeleech":false,"is_double_upload":false}"#),
            (
                "users",
                #"{"id":3,"group_id":3,"passkey":"\#(Self.passkey(3))","new_passkey":null,"can_download":true,"num_seeding":0,"num_leeching":0,"is_donor":false,"is_lifetime":false}"#
            ),
            (
                "torrents",
                #"{"id":7,"status":1,"info_hash":"\#(hex20(hash))","is_deleted":false,"seeders":0,"leechers":0,"times_completed":0,"download_factor":100,"upload_factor":100}"#
            ),
        ] {
            #expect(
                try curl(["-X", "PUT", "-H", "Content-Type: application/json", "-w", "%{http_code}", "--data", body, "\(api)/\(route)"])
                    == "200")
        }
        var port = try #require(squall.ports("http").first)
        #expect(!(try curl(["-A", "qBittorrent/5.0.0", "http://127.0.0.1:\(port)\(target)"]).contains("failure")))
        // Not a clean stop: the file has every call already.
        squall.signal(SIGKILL)
        squall.process.waitUntilExit()
        let mode = try FileManager.default.attributesOfItem(atPath: dir + "/registry.state")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        squall = try SquallProcess(["--config", config])
        #expect(squall.waitFor(" ready"), "\(squall.log)")
        #expect(squall.log.contains("users=1") && squall.log.contains("torrents=1"), "\(squall.log)")
        port = try #require(squall.ports("http").first)
        api = "http://127.0.0.1:\(try #require(squall.adminPort))/announce/\(Self.apiKey)"
        #expect(!(try curl(["-A", "qBittorrent/5.0.0", "http://127.0.0.1:\(port)\(target)"]).contains("failure")))
        // A deleted torrent stays deleted across the next restart too.
        #expect(
            try curl([
                "-X", "DELETE", "-H", "Content-Type: application/json", "-w", "%{http_code}", "--data", #"{"id":7}"#, "\(api)/torrents",
            ]) == "200")
        #expect(squall.stop() == 0)
        squall = try SquallProcess(["--config", config])
        #expect(squall.waitFor(" ready"), "\(squall.log)")
        port = try #require(squall.ports("http").first)
        #expect(try curl(["-A", "qBittorrent/5.0.0", "http://127.0.0.1:\(port)\(target)"]).contains("Torrent has been deleted."))
        #expect(squall.stop() == 0)
    }
}

/// The accounting under faults, with the `squall` binary: a SIGKILL under load, then restarts;
/// the site's rows end holding each client's true bytes, nothing missing and nothing twice.
@Suite struct AccountingFaultTests {
    static let apiKey = PrivateProcessTests.apiKey

    static func config(_ db: MariaDBServer, journal: String, flushMs: Int, path: String, storage: String = "memory") throws {
        try """
        log_level = "info"
        storage = "\(storage)"
        [http]
        listen = ["127.0.0.1:0"]
        [private]
        enabled = true
        require_https = false
        source = "unit3d"
        database_url = "\(db.url)"
        min_interval_enforced = 0
        [admin]
        listen = ["127.0.0.1:0"]
        key = "\(apiKey)"
        [accounting]
        journal_dir = "\(journal)"
        flush_ms = \(flushMs)
        instance = "kill-test"
        """.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// One client: a user's peer on a torrent. It announces its session's counters, and now and
    /// then stops and starts a new session from zero (a client restart with the same peer_id).
    struct Client {
        var user: Int
        var torrent: UInt8
        var peer: [UInt8]
        /// This session's counters.
        var uploaded = 0
        var downloaded = 0
        /// Bytes of the sessions whose `stopped` was answered.
        var closedUploaded = 0
        var closedDownloaded = 0
        var trueUploaded: Int { closedUploaded + uploaded }
        var trueDownloaded: Int { closedDownloaded + downloaded }
        func target(_ event: AnnounceEvent = .none) -> String {
            announceTarget(
                hash: PrivateModeTests.hash(torrent), peer: peer, port: 51413, uploaded: uploaded, downloaded: downloaded, left: 1,
                event: event
            )
            .replacingOccurrences(of: "/announce?", with: "/announce/\(PrivateProcessTests.passkey(user))?")
        }
    }

    /// With the memory store the baselines go with the process and come back from the journal;
    /// with Redis's they stay in Redis, and the steps the kill cut off are looked up there.
    @Test(arguments: ["memory", "redis"]) func aSIGKILLUnderLoadLosesNothingAndARestartAppliesNothingTwice(store: String) throws {
        let db = try MariaDBServer()
        try db.loadUNIT3DFixture()
        let redis = store == "redis" ? try RedisServer() : nil
        let dir = NSTemporaryDirectory() + "squall-kill-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/squall.toml"
        // Flushes every 50 ms: the kill lands between, inside and after them.
        try Self.config(
            db, journal: dir + "/journal", flushMs: 50, path: path,
            storage: redis.map { "redis://127.0.0.1:\($0.port)" } ?? "memory")
        // Users 1 and 3 (group user) on torrent 1 (factors 100/100; user 3 has a personal
        // freeleech, so its download is credited at 0). Two peers each, so a (user, torrent)
        // sums two clients.
        var clients: [Client] = []
        for user in [1, 3] {
            for n in 0..<2 { clients.append(Client(user: user, torrent: 1, peer: PrivateModeTests.peerID("-qB5000-\(user)\(n)"))) }
        }
        func totals() throws -> [[Int]] {
            try [1, 3].map { user in
                try AccountingTests.row(
                    db,
                    "SELECT h.actual_uploaded, h.actual_downloaded, h.uploaded, h.downloaded, u.uploaded, u.downloaded "
                        + "FROM history h JOIN users u ON u.id = h.user_id WHERE h.user_id = \(user) AND h.torrent_id = 1"
                ).map { Int($0) ?? -1 }
            }
        }
        let before = try totals()
        var squall = try SquallProcess(["--config", path])
        #expect(squall.waitFor("[TrackerServer] ready"), "\(squall.log)")
        var port = try #require(squall.ports("http").first, "\(squall.log)")
        // Every client is known first (a new peer's counters credit nothing).
        for c in clients { #expect(try TestClient.get("127.0.0.1", port, c.target(), headers: [PrivateModeTests.agent]).status == 200) }
        // Load from four threads; the process is killed while they announce.
        let shared = Locked(clients)
        let answered = Atomic<Int>(0)
        let loadPort = port
        let threads = clients.indices.map { i in
            Thread {
                func send(_ target: String) -> Bool {
                    guard (try? TestClient.get("127.0.0.1", loadPort, target, headers: [PrivateModeTests.agent])) != nil else {
                        return false
                    }
                    answered.add(1, ordering: .relaxed)
                    return true
                }
                for n in 1...400 {
                    let target = shared.withLock { cs -> String in
                        cs[i].uploaded += 2 * (1 + i)
                        cs[i].downloaded += 4
                        return cs[i].target()
                    }
                    guard send(target) else { return }
                    guard n % 5 == 0 else { continue }
                    // Every fifth: stop, then a new session from zero.
                    guard send(shared.withLock { $0[i].target(.stopped) }) else { return }
                    let started = shared.withLock { cs -> String in
                        (cs[i].closedUploaded, cs[i].closedDownloaded) = (cs[i].trueUploaded, cs[i].trueDownloaded)
                        (cs[i].uploaded, cs[i].downloaded) = (0, 0)
                        return cs[i].target(.started)
                    }
                    guard send(started) else { return }
                }
            }
        }
        threads.forEach { $0.start() }
        while answered.load(ordering: .relaxed) < 300 { usleep(2000) }
        squall.signal(SIGKILL)
        squall.process.waitUntilExit()
        usleep(300_000)
        #expect(answered.load(ordering: .relaxed) < 1600, "the kill came while the clients were announcing")
        // Restart: the journal is replayed past the committed sequence. Each client announces
        // its session's counters once more (its next regular announce): what the tracker had
        // from the announce the kill cut off, journalled or not, is then exact either way.
        squall = try SquallProcess(["--config", path])
        #expect(squall.waitFor("[TrackerServer] ready"), "\(squall.log)")
        #expect(squall.log.contains("accounting ready"))
        port = try #require(squall.ports("http").first)
        clients = shared.withLock { $0 }
        for c in clients { #expect(try TestClient.get("127.0.0.1", port, c.target(), headers: [PrivateModeTests.agent]).status == 200) }
        // SIGTERM: the last flush before exit.
        #expect(squall.stop() == 0)
        #expect(squall.log.contains("accounting flushed at shutdown"), "\(squall.log)")
        // What the fixture's rows held before, plus each client's bytes.
        let expected = [1, 3].enumerated().map { (n, user) -> [Int] in
            let mine = clients.filter { $0.user == user }
            let (up, down) = (mine.map(\.trueUploaded).reduce(0, +), mine.map(\.trueDownloaded).reduce(0, +))
            let credited = user == 3 ? 0 : down
            return zip(before[n], [up, down, up, credited, up, credited]).map { $0 + $1 }
        }
        let after = try totals()
        #expect(after == expected, "credited equals each client's true bytes: \(after) against \(expected), before \(before)")
        // Once more: a start with nothing new applies nothing again.
        squall = try SquallProcess(["--config", path])
        #expect(squall.waitFor("[TrackerServer] ready"), "\(squall.log)")
        #expect(squall.stop() == 0)
        #expect(try totals() == expected)
        let peers = try AccountingTests.row(db, "SELECT COUNT(*) FROM peers WHERE torrent_id = 1 AND peer_id LIKE '-qB5000-%x'")
        #expect(peers == ["4"], "one row per client")
        #expect(clients.allSatisfy { $0.closedUploaded > 0 }, "every client went through sessions")
        _ = (threads, redis)
    }
}
