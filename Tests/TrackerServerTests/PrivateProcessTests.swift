import Foundation
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
