import Foundation
import Synchronization
import Testing
import TrackerProtocol
import TrackerServer
import TrackerTestSupport

/// The built `squall` executable, run as an operator would.
@Suite struct ProcessTests {
    /// The debug `squall` built beside the tests, or `SQUALL_BINARY` (`make stress` passes the
    /// release build).
    static var binary: URL { SquallProcess.binary }

    struct Finished {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    func run(_ args: [String]) throws -> Finished {
        let p = Process()
        p.executableURL = Self.binary
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Finished(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// What `pipe` carries until it holds `text` (or closes).
    static func read(_ pipe: Pipe, until text: String) -> String {
        var log = ""
        while !log.contains(text) {
            let chunk = pipe.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            log += String(decoding: chunk, as: UTF8.self)
        }
        return log
    }

    func tempFile(_ text: String) throws -> String {
        let path = TestFiles.path("squall", suffix: ".toml")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A systemd credential (`LoadCredential=`, read from `$CREDENTIALS_DIRECTORY`) and a
    /// `SQUALL_` variable reach the running binary's configuration.
    @Test func credentialsAndVariablesReachTheBinary() throws {
        let dir = NSTemporaryDirectory() + "squall-credentials-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "tok3n\n".write(toFile: dir + "/stats-token", atomically: true, encoding: .utf8)
        let config = try tempFile("[stats]\ntoken_file = \"credential:stats-token\"\n")
        let p = Process()
        p.executableURL = Self.binary
        p.arguments = ["--print-config", "--config", config]
        p.environment = ["CREDENTIALS_DIRECTORY": dir, "SQUALL_ANNOUNCE_INTERVAL": "777"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0 && text.contains("# token is set (not shown)") && text.contains("interval = 777\n"), "\(text)")
        #expect(!text.contains("tok3n"))
        let missing = try run(["--print-config", "--config", config])
        #expect(missing.status == 1 && missing.stderr.contains("CREDENTIALS_DIRECTORY is not set"), "\(missing)")
    }

    /// The binary's log in each `log_format`: JSON objects, and journald's form when standard
    /// error is the stream `$JOURNAL_STREAM` names (here: the test's pipe).
    @Test(arguments: ["json", "auto"])
    func logFormatsAsTheJournalOrACollectorReadsThem(format: String) throws {
        let p = Process()
        p.executableURL = Self.binary
        p.arguments = ["--http", "127.0.0.1:0", "--config", try tempFile("log_format = \"\(format)\"\n")]
        let err = Pipe()
        var st = stat()
        #expect(fstat(err.fileHandleForWriting.fileDescriptor, &st) == 0)
        p.environment = ProcessInfo.processInfo.environment.merging(["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino)"]) { $1 }
        (p.standardError, p.standardOutput) = (err, FileHandle.nullDevice)
        try p.run()
        var log = Self.read(err, until: "ready")
        p.terminate()
        log += String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let lines = log.split(separator: "\n")
        #expect(lines.count >= 3, "\(log)")
        for line in lines {
            if format == "json" {
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String]
                #expect(object?["message"] != nil && object?["level"] != nil, "\(line)")
            } else {
                #expect(line.hasPrefix("<6>") || line.hasPrefix("<5>") || line.hasPrefix("<4>"), "\(line)")
            }
        }
        #expect(log.contains(format == "json" ? #""message":"ready""# : "<6>ready "), "\(log)")
    }

    /// The bash completion `make man` installs parses and offers the subcommands and flags.
    @Test func theBashCompletionParsesAndKnowsTheCommands() throws {
        let script = try run(["--generate-completion-script", "bash"])
        #expect(script.status == 0 && script.stdout.contains("check-config") && script.stdout.contains("--storage-check"))
        let path = try tempFile(script.stdout)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-n", path]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "bash -n on the completion script")
    }

    /// A planned restart keeps the memory store's swarms: SIGTERM writes the snapshot (mode
    /// 0600), the next start reads it, says so, and removes it.
    @Test func aPlannedRestartKeepsTheMemoryStoresSwarms() throws {
        let file = NSTemporaryDirectory() + "squall-swarms-\(UUID().uuidString)"
        defer { unlink(file) }
        let env = ["SQUALL_MEMORY_SNAPSHOT_FILE": file]
        let first = try SquallProcess(["--http", "127.0.0.1:0"], environment: env)
        #expect(first.waitFor(" ready"))
        let port = try #require(first.ports("http").first)
        for (n, left) in [(1, 0), (2, 1)] {
            _ = try TestClient.get(
                "127.0.0.1", port, announceTarget(hash: testHash(70), peer: testPeer("keep\(n)"), port: 7000 + n, left: left))
        }
        #expect(first.stop() == 0)
        #expect(first.log.contains("swarms saved"), "\(first.log)")
        var st = stat()
        #expect(stat(file, &st) == 0 && st.st_mode & 0o777 == 0o600)
        let second = try SquallProcess(["--http", "127.0.0.1:0"], environment: env)
        #expect(second.waitFor(" ready"))
        #expect(second.log.contains("peers=2") && second.log.contains("swarms restored"), "\(second.log)")
        #expect(!FileManager.default.fileExists(atPath: file), "read once")
        let again = try #require(second.ports("http").first)
        let reply = try BencodeValue.decode(
            try TestClient.get("127.0.0.1", again, announceTarget(hash: testHash(70), peer: testPeer("new"), left: 1)).body)
        #expect(reply["complete"] == .int(1) && reply["incomplete"] == .int(2))
        #expect(compactV4(reply["peers"]).sorted() == ["127.0.0.1:7001", "127.0.0.1:7002"])
        #expect(second.stop() == 0)
    }

    @Test func badConfigExitsWithOneLineNamingTheKey() throws {
        let path = try tempFile("[announce]\nintervall = 5\n")
        let r = try run(["--config", path])
        #expect(r.status == 1)
        #expect(r.stderr == "squall: announce.intervall: unknown key\n")
        let missing = try run(["--config", "/nonexistent/squall.toml"])
        #expect(missing.status == 1 && missing.stderr == "squall: --config: cannot read /nonexistent/squall.toml\n")
        let flag = try run(["--http", "nowhere"])
        #expect(flag.status == 1 && flag.stderr == "squall: --http: 'nowhere' is not ADDR:PORT or [V6]:PORT\n")
    }

    @Test func printConfigRoundTrips() throws {
        let r = try run(["--print-config", "--announce-interval", "300", "--http", "127.0.0.1:7777"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("interval = 300\n") && r.stdout.contains("listen = [\"127.0.0.1:7777\"]"))
        let again = try run(["--print-config", "--config", try tempFile(r.stdout)])
        #expect(again.stdout == r.stdout)
    }

    @Test func servesAnnouncesThenStopsOnSIGTERM() async throws {
        let p = Process()
        p.executableURL = Self.binary
        p.arguments = ["--http", "127.0.0.1:0", "--http", "[::1]:0"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        // Readiness is the "ready" log line, which carries the bound ports.
        let log = Self.read(err, until: "ready")
        let ports =
            log.split(separator: "\n").first { $0.contains("ready") }.map { line in
                line.split(separator: " ").compactMap { word -> Int? in
                    guard word.hasSuffix("/announce"), let colon = word.dropLast("/announce".count).lastIndex(of: ":") else { return nil }
                    return Int(word[word.index(after: colon)...].prefix { $0.isNumber })
                }
            } ?? []
        #expect(ports.count == 2, "\(log)")
        if ports.count == 2 {
            let v4 = try TestClient.get("127.0.0.1", ports[0], announceTarget(hash: testHash(1), peer: testPeer("proc4"), left: 0))
            let v6 = try TestClient.get("::1", ports[1], announceTarget(hash: testHash(1), peer: testPeer("proc6"), left: 1))
            #expect(try BencodeValue.decode(v4.body)["complete"] == .int(1))
            #expect(compactV4(try BencodeValue.decode(v6.body)["peers"]).count == 1)
        }
        p.terminate()  // SIGTERM
        let rest = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(String(decoding: rest, as: UTF8.self).contains("stopped"))
    }

    @Test func aPortInUseExitsWithOneLine() throws {
        let blocker = try TestListener()
        let r = try run(["--http", "127.0.0.1:\(blocker.port)"])
        #expect(r.status == 1)
        #expect(r.stderr.hasSuffix("squall: cannot listen on 127.0.0.1:\(blocker.port): address already in use\n"))
        #expect(r.stderr.split(separator: "\n").filter { $0.hasPrefix("squall:") }.count == 1)
    }
}

/// A bound, listening socket on 127.0.0.1 that holds a port.
final class TestListener {
    let fd: Int32
    let port: Int
    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, len) == 0 && listen(fd, 1) == 0 && getsockname(fd, $0, &len) == 0
            }
        }
        guard ok else { throw TestClient.Failure(description: "listen failed") }
        port = Int(UInt16(bigEndian: addr.sin_port))
    }
    deinit { close(fd) }
}

@Suite struct HTTPSProcessTests {
    @Test func sighupReloadsCertificatesAndABadReloadKeepsTheOldOnes() throws {
        let f = try TLSFixtures()
        defer { f.cleanup() }
        let squall = try SquallProcess(["--http", "127.0.0.1:0", "--https", "127.0.0.1:0", "--tls-cert", f.cert, "--tls-key", f.key])
        #expect(squall.waitFor(" ready"), "\(squall.log)")
        #expect(squall.log.contains("certificate loaded") && squall.log.contains("subject=/CN=localhost"))
        let port = try #require(squall.ports("https").first, "\(squall.log)")
        let first = try fileSerial(f.cert)
        #expect(try servedSerial(port, ca: f.ca) == first)

        // A connection opened before the signal, with a peer in the swarm.
        let open = try OpenSSLClient(port: port, ca: f.ca)
        defer { open.close() }
        #expect(try open.get(announceTarget(hash: testHash(50), peer: testPeer("before"), left: 1)).contains("10:incompletei1e"))

        try shell("rm '\(f.cert)' && '\(repoRoot.path)/certs/make-dev-cert.sh' '\(f.dir)' >/dev/null")
        let second = try fileSerial(f.cert)
        squall.signal(SIGHUP)
        #expect(squall.waitFor("certificates reloaded"))
        #expect(try servedSerial(port, ca: f.ca) == second)
        // The old connection goes on announcing, and the swarm is untouched.
        #expect(try open.get(announceTarget(hash: testHash(50), peer: testPeer("before"), left: 1)).contains("10:incompletei1e"))
        #expect(try open.get(announceTarget(hash: testHash(50), peer: testPeer("after"), left: 1)).contains("10:incompletei2e"))

        let (_, otherKey) = try f.issue("other", cn: "other.test")
        try shell("cp '\(otherKey)' '\(f.key)'")
        squall.signal(SIGHUP)
        #expect(squall.waitFor("configuration reload failed, nothing changed"))
        #expect(squall.log.contains("key does not match the certificate"))
        #expect(try servedSerial(port, ca: f.ca) == second)
        #expect(squall.stop() == 0)
    }

    /// `squall check-config` says what startup would, without binding: 0 for a good file, 1 with
    /// startup's line for a bad key or a certificate that does not match its key.
    @Test func checkConfigSaysWhatStartupWouldWithoutBinding() throws {
        let p = ProcessTests()
        let f = try TLSFixtures()
        defer { f.cleanup() }
        // A port in use: check-config does not bind, so it cannot notice (nor mind) it.
        let blocker = try TestListener()
        let good = try p.tempFile(
            "[http]\nlisten = [\"127.0.0.1:\(blocker.port)\"]\n[https]\nlisten = [\"127.0.0.1:0\"]\ncertificates = [{ cert = \"\(f.cert)\", key = \"\(f.key)\" }]\n"
        )
        let ok = try p.run(["check-config", "--config", good])
        #expect(ok.status == 0 && ok.stdout == "squall: configuration OK (\(good))\n" && ok.stderr.isEmpty, "\(ok)")
        let bad = try p.run(["check-config", "--config", try p.tempFile("[announce]\nintervall = 5\n")])
        #expect(bad.status == 1 && bad.stderr == "squall: announce.intervall: unknown key\n" && bad.stdout.isEmpty)
        let (_, otherKey) = try f.issue("other", cn: "other.test")
        let mismatch = try p.run(["check-config", "--https", "127.0.0.1:0", "--tls-cert", f.cert, "--tls-key", otherKey])
        #expect(mismatch.status == 1 && mismatch.stderr == "squall: \(otherKey): key does not match the certificate in \(f.cert)\n")
    }

    @Test func aKeyThatDoesNotMatchStopsStartupWithOneLine() throws {
        let f = try TLSFixtures()
        defer { f.cleanup() }
        let (_, otherKey) = try f.issue("other", cn: "other.test")
        let squall = try SquallProcess(["--http", "127.0.0.1:0", "--https", "127.0.0.1:0", "--tls-cert", f.cert, "--tls-key", otherKey])
        squall.process.waitUntilExit()
        squall.waitFor("\u{0}never")
        #expect(squall.process.terminationStatus == 1)
        #expect(squall.log == "squall: \(otherKey): key does not match the certificate in \(f.cert)\n")
    }
}

@Suite struct RedisProcessTests {
    /// A TLS client that sends its request and its close_notify together, then reads (Python's
    /// ssl over memory BIOs: OpenSSL lets a client read after sending close_notify).
    static let closeNotifyClient = #"""
        import socket, ssl, sys
        host, port, ca, target = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
        ctx = ssl.create_default_context(cafile=ca)
        sock = socket.create_connection((host, port), timeout=10)
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(inc, out, server_hostname="localhost")
        def flush():
            data = out.read()
            if data: sock.sendall(data)
        while True:
            try:
                tls.do_handshake(); break
            except ssl.SSLWantReadError:
                flush()
                data = sock.recv(65536)
                if not data: sys.exit("closed during the handshake")
                inc.write(data)
        flush()
        # The request and the close_notify in one write: the server sees both in one read.
        tls.write(("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % target).encode())
        try:
            tls.unwrap()
        except ssl.SSLWantReadError:
            pass
        flush()
        reply = b""
        while True:
            data = sock.recv(65536)
            if not data: break
            inc.write(data)
            try:
                while True:
                    chunk = tls.read(65536)
                    if not chunk: break
                    reply += chunk
            except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                pass
            if b"\r\n\r\n" in reply: 
                head, _, body = reply.partition(b"\r\n\r\n")
                n = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")]
                if n and len(body) >= n[0]: break
        sys.stdout.write(reply.decode("latin-1"))
        """#

    /// Regression: the TLS layer closed the connection on the client's close_notify, so a reply
    /// the store gave later (Redis answers after the read that asked) was never written.
    @Test func aTLSCloseNotifyRightBehindARequestStillGetsTheRedisStoresReply() throws {
        let redis = try RedisServer(password: "pw")
        let f = try TLSFixtures()
        defer { f.cleanup() }
        let squall = try SquallProcess([
            "--storage", "redis://:pw@127.0.0.1:\(redis.port)", "--http", "127.0.0.1:0", "--https", "127.0.0.1:0", "--tls-cert", f.cert,
            "--tls-key", f.key,
        ])
        defer { _ = squall.stop() }
        #expect(squall.waitFor(" ready"), "\(squall.log)")
        let port = try #require(squall.ports("https").first, "\(squall.log)")
        let script = NSTemporaryDirectory() + "squall-close-notify-\(UUID().uuidString).py"
        try Self.closeNotifyClient.write(toFile: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: script) }
        for i in 0..<5 {
            let target = announceTarget(hash: testHash(60), peer: testPeer("cn\(i)"), left: 1)
            let reply = try shell("/usr/bin/python3 '\(script)' 127.0.0.1 \(port) '\(f.ca)' '\(target)'")
            #expect(reply.hasPrefix("HTTP/1.1 200 OK") && reply.contains("10:incompletei\(i + 1)e"), "\(reply)")
        }
    }

    /// `--storage-check` reaches Redis as startup does; without it Redis is not asked.
    @Test func checkConfigReachesRedisOnlyWhenAsked() throws {
        let redis = try RedisServer(password: "sekret")
        let wrong = "redis://:wrong@127.0.0.1:\(redis.port)"
        let p = ProcessTests()
        let unasked = try p.run(["check-config", "--storage", wrong])
        #expect(unasked.status == 0, "\(unasked)")
        let checked = try p.run(["check-config", "--storage-check", "--storage", wrong])
        #expect(checked.status == 1 && checked.stderr.hasPrefix("squall: storage: redis://127.0.0.1:\(redis.port)/"), "\(checked)")
        #expect(checked.stderr.contains("authentication failed") && !checked.stderr.contains("wrong"))
        #expect(try p.run(["check-config", "--storage-check", "--storage", "redis://:sekret@127.0.0.1:\(redis.port)"]).status == 0)
    }

    @Test func badRedisSettingsStopStartupWithOneLineAndNoPassword() throws {
        let redis = try RedisServer(password: "sekret")
        for (url, expected) in [
            ("redis://:wrong@127.0.0.1:\(redis.port)", "authentication failed"),
            ("redis://:sekret@127.0.0.1:\(redis.port)/99", "cannot select database 99"),
        ] {
            let squall = try SquallProcess(["--storage", url, "--http", "127.0.0.1:0"])
            squall.process.waitUntilExit()
            squall.waitFor("\u{0}never")
            #expect(squall.process.terminationStatus == 1)
            #expect(
                squall.log.hasPrefix("squall: storage: redis://127.0.0.1:\(redis.port)/") && squall.log.contains(expected), "\(squall.log)")
            #expect(!squall.log.contains("sekret") && !squall.log.contains("wrong") && squall.log.split(separator: "\n").count == 1)
        }
    }

    @Test func twoSquallProcessesShareOneRedis() throws {
        let redis = try RedisServer(password: "sekret")
        let url = "redis://:sekret@127.0.0.1:\(redis.port)/1"
        let a = try SquallProcess(["--storage", url, "--http", "127.0.0.1:0"])
        let b = try SquallProcess(["--storage", url, "--http", "[::1]:0"])
        #expect(a.waitFor(" ready") && b.waitFor(" ready"))
        let portA = try #require(a.ports("http").first), portB = try #require(b.ports("http").first)
        _ = try TestClient.get("127.0.0.1", portA, announceTarget(hash: testHash(60), peer: testPeer("viaA"), port: 7001, left: 0))
        let reply = try BencodeValue.decode(
            try TestClient.get("::1", portB, announceTarget(hash: testHash(60), peer: testPeer("viaB"), left: 1)).body)
        #expect(reply["complete"] == .int(1) && reply["incomplete"] == .int(1))
        #expect(compactV4(reply["peers"]) == ["127.0.0.1:7001"], "B hands out the peer that announced to A")
        #expect(a.stop() == 0 && b.stop() == 0)
        #expect(!a.log.contains("sekret") && !b.log.contains("sekret"))
    }

    /// `process_*` metrics describe the process the scrape reached, and `squall_build_info` its
    /// version.
    @Test func processMetricsDescribeTheProcess() throws {
        let launched = Int(Date().timeIntervalSince1970)
        let squall = try SquallProcess(["--http", "127.0.0.1:0"])
        #expect(squall.waitFor(" ready"))
        let port = try #require(squall.ports("http").first)
        let text = String(decoding: try TestClient.get("127.0.0.1", port, "/metrics").body, as: UTF8.self)
        func value(_ name: String) -> Double? {
            text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
        }
        let pid = squall.process.processIdentifier
        let statm = try String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8).split(separator: " ")
        let rss = Double(Int(statm[1])! * Int(sysconf(Int32(_SC_PAGESIZE))))
        #expect(value("process_resident_memory_bytes").map { abs($0 - rss) < rss / 2 } == true, "\(text)")
        let fds = Double(try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count)
        #expect(value("process_open_fds").map { $0 >= 3 && abs($0 - fds) <= 8 } == true, "\(text)")
        let limits = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8).split(separator: "\n")
            .first { $0.hasPrefix("Max open files") }?.split(separator: " ", omittingEmptySubsequences: true)
        #expect(value("process_max_fds") == limits.flatMap { Double($0[3]) }, "\(text)")
        #expect(value("process_cpu_seconds_total").map { $0 > 0 && $0 < 600 } == true)
        #expect(value("process_start_time_seconds").map { abs(Int($0) - launched) <= 5 } == true, "\(text)")
        #expect(text.contains(#"squall_build_info{version="\#(TrackerRouter.version)",swift="#))
        #expect(squall.stop() == 0)
    }

    @Test func redisGoingAwayIsReportedNotCrashedOn() throws {
        let redis = try RedisServer(password: "sekret")
        let squall = try SquallProcess(["--storage", "redis://:sekret@127.0.0.1:\(redis.port)", "--http", "127.0.0.1:0"])
        #expect(squall.waitFor(" ready"))
        let port = try #require(squall.ports("http").first)
        let up = try TestClient.get("127.0.0.1", port, "/health")
        #expect(up.status == 200 && String(decoding: up.body, as: UTF8.self).contains("\"store\":\"redis\""))
        #expect(try TestClient.get("127.0.0.1", port, "/ready").status == 200)

        kill(redis.process.processIdentifier, SIGKILL)
        redis.process.waitUntilExit()
        let down = try TestClient.get("127.0.0.1", port, "/health")
        // Alive (an orchestrator must not restart it for Redis's outage), not ready.
        #expect(down.status == 200 && String(decoding: down.body, as: UTF8.self).contains("\"store\":\"down\""))
        let ready = try TestClient.get("127.0.0.1", port, "/ready")
        #expect(ready.status == 503 && String(decoding: ready.body, as: UTF8.self) == #"{"status":"unavailable"}"# + "\n")
        let announce = try TestClient.get("127.0.0.1", port, announceTarget(hash: testHash(61), peer: testPeer("x"), left: 1))
        #expect(announce.status == 200)
        #expect(try BencodeValue.decode(announce.body)["failure reason"]?.stringValue == "storage unavailable, retry later")
        #expect(squall.stop() == 0, "still running, and stops cleanly")
    }
}

/// The no-read pipelining flood against the built binary, measured where it hurts: the
/// process's resident memory. Before backpressure five such clients took Squall from 31 MiB to
/// 3.6 GiB in 20 seconds.
@Suite struct FloodProcessTests {
    /// VmRSS of `pid` in bytes.
    static func rss(_ pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kb = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kb * 1024
    }

    @Test func fiveClientsThatNeverReadKeepMemoryFlat() async throws {
        let squall = try SquallProcess(["--http", "127.0.0.1:0"])
        defer { _ = squall.stop() }
        #expect(squall.waitFor(" ready"), "\(squall.log)")
        let port = try #require(squall.ports("http").first)
        let hash = testHash(91)
        try preloadSwarm(host: "127.0.0.1", port: port, hash: hash, peers: 200)
        let pid = squall.process.processIdentifier
        let before = Self.rss(pid)
        let request = Flood.request(hash: hash)
        let group = DispatchGroup()
        let outcomes = Mutex<[Flood.Outcome]>([])
        for _ in 0..<5 {
            DispatchQueue.global().async(group: group) {
                let o = Flood.run(host: "127.0.0.1", port: port, request: request, seconds: 8)
                outcomes.withLock { $0.append(o) }
            }
        }
        var peak = before
        while group.wait(timeout: .now() + .milliseconds(200)) == .timedOut { peak = max(peak, Self.rss(pid)) }
        let sent = outcomes.withLock { $0.map(\.sent) }
        #expect(sent.count == 5 && sent.allSatisfy { $0 > 1 << 20 }, "every flood sent at least 1 MiB: \(sent)")
        #expect(peak - before < 100 << 20, "RSS went from \(before >> 20) MiB to \(peak >> 20) MiB; sent \(sent)")
        #expect(try TestClient.get("127.0.0.1", port, "/health").status == 200)
    }
}

/// The open-file limit: raised to the hard limit at startup, and `http.max_connections` lowered
/// with one warning when even that cannot hold it.
@Suite struct FileLimitTests {
    @Test func theSoftLimitIsRaisedAndMaxConnectionsClampedWithOneWarning() throws {
        let squall = try SquallProcess(["--http", "127.0.0.1:0"], shellPrefix: "ulimit -Sn 100 && ulimit -Hn 600")
        defer { _ = squall.stop() }
        squall.waitFor(" ready")
        let log = squall.log
        let limits = try String(contentsOfFile: "/proc/\(squall.process.processIdentifier)/limits", encoding: .utf8)
        let files = limits.split(separator: "\n").first { $0.hasPrefix("Max open files") }.map { $0.split(separator: " ") } ?? []
        #expect(files.count >= 5 && files[3] == "600" && files[4] == "600", "soft limit raised to the hard one: \(files)")
        let warnings = log.split(separator: "\n").filter { $0.contains("open-file limit") }
        #expect(warnings.count == 1 && warnings[0].contains("open_files=600") && warnings[0].contains("configured=10000"), "\(log)")
    }

    @Test func connectionsFitTheLimit() {
        #expect(FileLimit.connections(wanted: 10_000, reserve: 100, limit: 1_048_576) == 10_000)
        #expect(FileLimit.connections(wanted: 10_000, reserve: 100, limit: 1024) == 924)
        #expect(FileLimit.connections(wanted: 10_000, reserve: 100, limit: 50) == 1)
    }
}
