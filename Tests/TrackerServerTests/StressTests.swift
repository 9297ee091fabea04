import Foundation
import NIOCore
import RedisStore
import Synchronization
import Testing
import TrackerCore
import TrackerProtocol
import TrackerTestSupport

@testable import TrackerTLS

/// The abuse and fault suite: a Squall process on loopback against hostile clients, each
/// scenario bounded in time and printing its pass criterion (`stress: NAME: PASS|FAIL: ...`).
/// `make test` runs the short form of each; `make stress` runs them longer against the release
/// binary (`SQUALL_STRESS=1`, `SQUALL_BINARY`), plus what needs minutes or gigabytes.
enum Stress {
    /// Whether this is `make stress` (longer runs, more clients, the 2 GiB write).
    static var long: Bool { ProcessInfo.processInfo.environment["SQUALL_STRESS"] == "1" }

    /// Short in `make test`, longer in `make stress`.
    static func scale(_ short: Int, _ long: Int) -> Int { Self.long ? long : short }

    /// Prints the outcome and records it as an expectation.
    static func report(_ name: String, _ pass: Bool, _ criterion: String, sourceLocation: SourceLocation = #_sourceLocation) {
        print("stress: \(name): \(pass ? "PASS" : "FAIL"): \(criterion)")
        #expect(pass, "\(name): \(criterion)", sourceLocation: sourceLocation)
    }

    /// A Squall process with `config` (TOML) on 127.0.0.1 and ::1, ready.
    static func start(_ config: String = "", https: Bool = false) throws -> (SquallProcess, Int, Int?, TLSFixtures?) {
        let file = TestFiles.path("stress", suffix: ".toml")
        try config.write(toFile: file, atomically: true, encoding: .utf8)
        var args = ["--config", file, "--http", "[::]:0"]
        var fixtures: TLSFixtures?
        if https {
            let f = try TLSFixtures()
            fixtures = f
            args += ["--https", "[::]:0", "--tls-cert", f.cert, "--tls-key", f.key]
        }
        let squall = try SquallProcess(args)
        guard squall.waitFor(" ready"), let port = squall.ports("http").first else {
            throw TestClient.Failure(description: "squall did not start: \(squall.log)")
        }
        return (squall, port, squall.ports("https").first, fixtures)
    }

    /// One announce of a load thread: when it started (seconds into the run), how long it took,
    /// which torrent (an index of the scenario's), and whether it was served.
    struct Sample {
        var at: Double
        var ms: Double
        var torrent = 0
        var served: Bool
    }

    /// A Squall process on `storage` (a Redis URL) with a 500 ms command timeout, ready.
    static func start(storage: String) throws -> (SquallProcess, Int) {
        let (squall, port, _, _) = try start(
            """
            storage = "\(storage)"
            [redis]
            timeout_ms = 500
            """)
        return (squall, port)
    }

    /// A counter or gauge from /metrics (0 when absent).
    static func metric(_ port: Int, _ series: String) throws -> Int { try present(port, series) ?? 0 }

    /// A series from /metrics, nil when it is not there.
    static func present(_ port: Int, _ series: String) throws -> Int? {
        let text = String(decoding: try TestClient.get("127.0.0.1", port, "/metrics").body, as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Int(Double(line.split(separator: " ").last ?? "") ?? 0)
        }
        return nil
    }

    /// Announces on fresh connections for `seconds`; returns the latencies in milliseconds and
    /// how many failed.
    static func freshAnnounces(_ port: Int, seconds: Double, hash: [UInt8]) -> (ms: [Double], failed: Int) {
        var ms: [Double] = []
        var failed = 0
        let end = Date().addingTimeInterval(seconds)
        var i = 0
        while Date() < end {
            let started = ContinuousClock.now
            let target = announceTarget(hash: hash, peer: testPeer("fresh\(i % 500)"), port: 20_000 + i % 500, left: 5)
            if let r = try? TestClient.get("127.0.0.1", port, target), r.status == 200 {
                let d = ContinuousClock.now - started
                ms.append(Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000)
            } else {
                failed += 1
            }
            i += 1
        }
        return (ms, failed)
    }

    static func p99(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return .infinity }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))]
    }

    /// Open descriptors of `pid`.
    static func fds(_ pid: Int32) -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1 }
}

/// Lets a thread see a value that only it uses while the test waits.
final class Unchecked<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

final class Stopper: Sendable {
    private let flag = Atomic<Bool>(false)
    var stopped: Bool { flag.load(ordering: .relaxed) }
    func stop() { flag.store(true, ordering: .relaxed) }
}

@Suite(.serialized) struct StressTests {
    /// A stranger who learned a peer_id sends stops, completions and the other family with
    /// random keys: the victim keeps its endpoint and its swarm's counts.
    @Test func peerSpoofingLeavesTheVictimIntact() throws {
        let (squall, port, _, _) = try Stress.start()
        defer { _ = squall.stop() }
        let h = testHash(120)
        let victim = testPeer("victim")
        _ = try TestClient.get("127.0.0.1", port, announceTarget(hash: h, peer: victim, port: 7000, left: 5, key: "1F2E3D4C"))
        let attempts = Stress.scale(100, 5000)
        for i in 0..<attempts {
            let key = String(format: "%08X", UInt32.random(in: 0...UInt32.max))
            let event: AnnounceEvent = [.stopped, .completed, .none][i % 3]
            _ = try TestClient.get("::1", port, announceTarget(hash: h, peer: victim, port: 9000, left: 0, event: event, key: key))
        }
        let view = try BencodeValue.decode(
            try TestClient.get("::1", port, announceTarget(hash: h, peer: testPeer("watcher"), port: 7001, left: 5)).body)
        let intact =
            compactV4(view["peers"]) == ["127.0.0.1:7000"] && compactV6(view["peers6"]).isEmpty && view["downloaded"] == .int(0)
            && view["incomplete"] == .int(2) && view["complete"] == .int(0)
        let ignored = try Stress.metric(port, "squall_announces_not_owned_total")
        Stress.report(
            "peer spoofing", intact && ignored == attempts,
            "\(attempts) forged announces from another address: victim intact (\(intact)), \(ignored) counted as not owned")
    }

    /// One source fills torrents and a torrent: its quotas refuse it, and a new source still
    /// gets in.
    @Test func capacityExhaustionFromOneSourceIsRefusedAndANewSourceGetsIn() throws {
        let (squall, port, _, _) = try Stress.start(
            """
            [announce]
            quota_exempt = []
            max_peers_per_source = 8
            max_new_torrents_per_source = 20
            """)
        defer { _ = squall.stop() }
        let attempts = Stress.scale(200, 5000)
        let c = try TestClient(host: "127.0.0.1", port: port)
        func accepted(_ target: String) throws -> Bool {
            try c.send("GET \(target) HTTP/1.1\r\n\r\n")
            return try BencodeValue.decode(try c.readResponse().body)["failure reason"] == nil
        }
        // Peers into one torrent (whose creation is the first of the minute's 20)...
        let h = testHash(250)
        var joined = 0
        for i in 0..<attempts where try accepted(announceTarget(hash: h, peer: testPeer("p\(i)"), port: 1000 + i % 60_000, left: 5)) {
            joined += 1
        }
        // ...then new torrents. The budget is per minute of the monotonic clock, which the test
        // reads too: a run across a minute boundary may get a second budget.
        func minute() -> UInt64 { NIODeadline.now().uptimeNanoseconds / 60_000_000_000 }
        let firstMinute = minute()
        var created = 0
        for i in 0..<attempts {
            let hash = [0xEE, UInt8(i >> 8 & 0xFF), UInt8(i & 0xFF)] + [UInt8](repeating: 7, count: 17)
            if try accepted(announceTarget(hash: hash, peer: testPeer("t\(i)"), left: 5)) { created += 1 }
        }
        let newcomer = try BencodeValue.decode(
            try TestClient.get("::1", port, announceTarget(hash: testHash(251), peer: testPeer("new"), left: 5)).body)
        let neighbour = try BencodeValue.decode(
            try TestClient.get("::1", port, announceTarget(hash: h, peer: testPeer("n6"), left: 5)).body)
        let crossed = minute() != firstMinute
        let pass =
            (created == 19 || (crossed && created <= 39)) && joined == 8 && newcomer["failure reason"] == nil
            && neighbour["failure reason"] == nil
        Stress.report(
            "capacity from one source", pass,
            "\(attempts) new torrents and \(attempts) peers from 127.0.0.1: \(created) more torrents (quota 20 a minute, one taken by the swarm\(crossed ? "; a minute boundary passed" : "")) and \(joined) peers (quota 8) let in; ::1 still gets in"
        )
    }

    /// More connections than `http.max_connections`: the extra ones are closed at accept,
    /// counted, and the tracker serves again once they go.
    @Test func moreConnectionsThanTheLimitAreClosedAtAccept() async throws {
        let (squall, port, _, _) = try Stress.start(
            """
            [http]
            max_connections = 64
            max_connections_per_source = 0
            header_timeout = 60
            """)
        defer { _ = squall.stop() }
        var held: [TestClient]? = try (0..<64).map { _ in try TestClient(host: "127.0.0.1", port: port) }
        // Let the tracker take the held ones (deferred accept hands them over after a second).
        try await Task.sleep(for: .milliseconds(1500))
        let extra = Stress.scale(50, 2000)
        var closed = 0
        for _ in 0..<extra {
            let c = try TestClient(host: "127.0.0.1", port: port, timeoutSeconds: 5)
            try? c.send("GET /health HTTP/1.1\r\n\r\n")
            if c.closedOrResetWithoutReply() { closed += 1 }
        }
        #expect(held?.count == 64)
        held = nil
        let served = try await TestClient.eventuallyServed("127.0.0.1", port)
        let refused = try Stress.metric(port, #"squall_connections_refused_total{reason="max_connections"}"#)
        Stress.report(
            "more than max_connections", closed == extra && refused >= extra && served,
            "\(extra) connections past 64: \(closed) closed at accept, \(refused) counted; served again after: \(served)")
    }

    /// Silent and one-byte-a-second connections on HTTP and TLS: fresh announces keep a p99
    /// under 100 ms, and the slow ones are closed on time.
    @Test func slowlorisKeepsServiceAndIsClosedOnTime() async throws {
        let (squall, port, tlsPort, fixtures) = try Stress.start(
            """
            [http]
            header_timeout = 3
            max_connections_per_source = 0
            [https]
            handshake_timeout = 3
            """, https: true)
        defer {
            _ = squall.stop()
            fixtures?.cleanup()
        }
        let tls = try #require(tlsPort)
        let silent = Stress.scale(100, 1000)
        let dribblers = Stress.scale(20, 200)
        let started = Date()
        let quiet = try (0..<silent).map { i in try TestClient(host: "127.0.0.1", port: i % 2 == 0 ? port : tls, timeoutSeconds: 10) }
        let slow = try (0..<dribblers).map { _ in try TestClient(host: "127.0.0.1", port: port, timeoutSeconds: 10) }
        let stop = Stopper()
        let dribbling = Unchecked(slow)
        let dribble = Thread {
            let text = Array("GET /announce?info_hash=".utf8)
            var i = 0
            while !stop.stopped {
                for c in dribbling.value { try? c.send([text[i % text.count]]) }
                i += 1
                Thread.sleep(forTimeInterval: 1)
            }
        }
        dribble.start()
        // Every slow connection is due to be closed 3 s after the tracker took it (deferred
        // accept hands a silent one over within about 3 s): 9 s on, the gauge must be back down.
        let openLater = Atomic<Int>(-1)
        let watcher = Thread {
            Thread.sleep(until: started.addingTimeInterval(9))
            openLater.store((try? Stress.present(port, "squall_open_connections")) ?? -2, ordering: .relaxed)
        }
        watcher.start()
        let fresh = Stress.freshAnnounces(port, seconds: Double(Stress.scale(2, 30)), hash: testHash(121))
        while openLater.load(ordering: .relaxed) == -1, Date().timeIntervalSince(started) < 20 {
            try await Task.sleep(for: .milliseconds(100))
        }
        stop.stop()
        // Every slow connection must be closed by the server within its timeout (3 s) plus slack.
        var closedInTime = 0
        for c in quiet + slow where (try? c.closedByPeer()) != nil { closedInTime += 1 }
        let elapsed = Date().timeIntervalSince(started)
        let p99 = Stress.p99(fresh.ms)
        let stillOpen = openLater.load(ordering: .relaxed)
        // The latency bound is judged in `make stress` only: in `make test` other suites share the
        // two cores, and speed is for benchmarks to measure.
        Stress.report(
            "slowloris",
            (p99 < 100 || !Stress.long) && fresh.failed == 0 && closedInTime == silent + dribblers && (0...2).contains(stillOpen)
                && elapsed < Double(Stress.scale(20, 45)),
            "\(silent) silent (HTTP and TLS) and \(dribblers) one-byte-a-second connections: fresh announce p99 \(String(format: "%.1f", p99)) ms over \(fresh.ms.count) (< 100), \(fresh.failed) failed; \(closedInTime) of \(silent + dribblers) closed by the server; \(stillOpen) open 9 s after they were made (the metrics request included)"
        )
    }

    /// SIGTERM with connections idle, half-sent, mid-handshake and not reading: the process
    /// exits within its grace period and leaves nothing open.
    @Test func sigtermWithConnectionsInEveryStateExitsInTime() async throws {
        let (squall, port, tlsPort, fixtures) = try Stress.start(
            "[http]\nheader_timeout = 60\n[https]\nhandshake_timeout = 60\n", https: true)
        defer { fixtures?.cleanup() }
        let tls = try #require(tlsPort)
        let idle = try TestClient(host: "127.0.0.1", port: port)
        try idle.send("GET /health HTTP/1.1\r\n\r\n")
        _ = try idle.readResponse()
        let half = try TestClient(host: "127.0.0.1", port: port)
        try half.send("GET /announce?info_hash=")
        let handshaking = try TestClient(host: "127.0.0.1", port: tls)
        try preloadSwarm(host: "127.0.0.1", port: port, hash: testHash(122), peers: 200)
        let flood = Thread { _ = Flood.run(host: "127.0.0.1", port: port, request: Flood.request(hash: testHash(122)), seconds: 20) }
        flood.start()
        try await Task.sleep(for: .seconds(1))
        let started = Date()
        squall.signal(SIGTERM)
        let status = squall.stop()
        let took = Date().timeIntervalSince(started)
        _ = (idle, half, handshaking)
        Stress.report(
            "SIGTERM in every state", took < 8 && status == 0,
            "idle, half-sent, mid-handshake and non-reading connections open: exit status \(status) after \(String(format: "%.1f", took)) s (grace 5 s)"
        )
    }

    /// A load of HTTPS clients, fresh connections and keep-alive ones, for `seconds`: prints
    /// how many requests were served and how many failed (any handshake or request error).
    static let httpsLoad = #"""
        import socket, ssl, sys, time, threading
        port, ca, seconds, target = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
        ctx = ssl.create_default_context(cafile=ca)
        served, failed, errors = [0], [0], []
        lock = threading.Lock()
        def get(tls):
            tls.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % target).encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = tls.recv(65536)
                if not chunk: raise Exception("closed")
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
            while len(body) < length:
                chunk = tls.recv(65536)
                if not chunk: raise Exception("closed in the body")
                body += chunk
            if not head.startswith(b"HTTP/1.1 200"): raise Exception(head[:40])
        def worker(keepalive):
            end = time.time() + seconds
            tls = None
            while time.time() < end:
                try:
                    if tls is None:
                        tls = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="localhost")
                    get(tls)
                    with lock: served[0] += 1
                    if not keepalive:
                        tls.close(); tls = None
                except Exception as e:
                    with lock:
                        failed[0] += 1
                        errors.append(repr(e))
                    tls = None
        threads = [threading.Thread(target=worker, args=(i % 2 == 0,)) for i in range(4)]
        for t in threads: t.start()
        for t in threads: t.join()
        print(served[0], failed[0], "; ".join(errors[:3]))
        """#

    /// A SIGHUP every 100 ms while the certificate files are swapped between two pairs and
    /// HTTPS clients announce: no request fails, and memory and descriptors stay flat.
    @Test func sighupEvery100msUnderHTTPSLoad() async throws {
        let (squall, _, tlsPort, fixtures) = try Stress.start(https: true)
        let f = try #require(fixtures)
        var stopped = false
        defer {
            if !stopped { _ = squall.stop() }
            f.cleanup()
        }
        let port = try #require(tlsPort)
        // Two pairs to swap in: the files Squall reads are replaced whole (rename) each time.
        let a = (try String(contentsOfFile: f.cert, encoding: .utf8), try String(contentsOfFile: f.key, encoding: .utf8))
        let (otherCert, otherKey) = try f.issue("second", cn: "localhost")
        let b = (try String(contentsOfFile: otherCert, encoding: .utf8), try String(contentsOfFile: otherKey, encoding: .utf8))
        let seconds = Stress.scale(5, 60)
        let script = NSTemporaryDirectory() + "squall-https-load-\(UUID().uuidString).py"
        try Self.httpsLoad.write(toFile: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: script) }
        let load = Process()
        load.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        load.arguments = [script, "\(port)", f.ca, "\(seconds)", announceTarget(hash: testHash(123), peer: testPeer("hup"), left: 1)]
        let output = Pipe()
        load.standardOutput = output
        try load.run()
        let pid = squall.process.processIdentifier
        try await Task.sleep(for: .milliseconds(500))
        let (rssBefore, fdsBefore) = (FloodProcessTests.rss(pid), Stress.fds(pid))
        var signals = 0
        let end = Date().addingTimeInterval(Double(seconds) - 1)
        while Date() < end {
            let (cert, key) = signals % 2 == 0 ? b : a
            try cert.write(toFile: f.cert + ".new", atomically: false, encoding: .utf8)
            try key.write(toFile: f.key + ".new", atomically: false, encoding: .utf8)
            _ = rename(f.key + ".new", f.key)
            _ = rename(f.cert + ".new", f.cert)
            squall.signal(SIGHUP)
            signals += 1
            try await Task.sleep(for: .milliseconds(100))
        }
        load.waitUntilExit()
        let (rssAfter, fdsAfter) = (FloodProcessTests.rss(pid), Stress.fds(pid))
        let words = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: " ", maxSplits: 2)
        let served = Int(words.first ?? "") ?? 0
        let failed = words.count > 1 ? Int(words[1]) ?? -1 : -1
        // Stopping reads the rest of the log.
        let status = squall.stop()
        stopped = true
        let reloads = squall.log.components(separatedBy: "certificates reloaded").count - 1
        let pass =
            status == 0 && failed == 0 && served > 100 && reloads > signals / 2 && rssAfter - rssBefore < 20 << 20
            && fdsAfter - fdsBefore < 20
        Stress.report(
            "SIGHUP every 100 ms", pass,
            "\(signals) SIGHUPs (\(reloads) reloads logged) over \(seconds) s with the files swapped: \(served) HTTPS requests served, \(failed) failed\(words.count > 2 ? " (" + words[2].trimmingCharacters(in: .whitespacesAndNewlines) + ")" : ""); RSS \(rssBefore >> 20) -> \(rssAfter >> 20) MiB, fds \(fdsBefore) -> \(fdsAfter)"
        )
    }

    /// Clients that open TLS connections as fast as they can and send a ClientHello-looking
    /// record that is garbage, or half a record and nothing more: announces on fresh connections
    /// are still served, and the failed handshakes are counted.
    @Test func aHandshakeFloodLeavesServiceAndIsCounted() async throws {
        let (squall, port, tlsPort, fixtures) = try Stress.start(
            "[https]\nhandshake_timeout = 2\n[http]\nmax_connections_per_source = 0\n", https: true)
        defer {
            _ = squall.stop()
            fixtures?.cleanup()
        }
        let tls = try #require(tlsPort)
        let seconds = Double(Stress.scale(3, 20))
        let stop = Stopper()
        let opened = Atomic<Int>(0)
        // A TLS record header for a handshake message, then bytes that are no ClientHello.
        let garbage: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x40] + [UInt8](repeating: 0xAB, count: 64)
        let half: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]
        let flooders = (0..<4).map { i in
            Thread {
                while !stop.stopped {
                    guard let c = try? TestClient(host: "127.0.0.1", port: tls, timeoutSeconds: 1) else { continue }
                    try? c.send(i % 2 == 0 ? garbage : half)
                    opened.add(1, ordering: .relaxed)
                    if i % 2 == 0 { _ = c.closedOrResetWithoutReply() }
                }
            }
        }
        flooders.forEach { $0.start() }
        let fresh = Stress.freshAnnounces(port, seconds: seconds, hash: testHash(124))
        stop.stop()
        try await Task.sleep(for: .seconds(3))
        let failures = try Stress.metric(port, "squall_tls_handshake_failures_total")
        let p99 = Stress.p99(fresh.ms)
        let flood = opened.load(ordering: .relaxed)
        Stress.report(
            "handshake flood", fresh.failed == 0 && (p99 < 100 || !Stress.long) && failures > flood / 4 && flood > 100,
            "\(flood) bogus TLS connections in \(Int(seconds)) s: fresh HTTP announces p99 \(String(format: "%.1f", p99)) ms over \(fresh.ms.count), \(fresh.failed) failed; \(failures) handshake failures counted"
        )
    }

    /// Redis paused, then killed and restarted empty, while clients announce: every announce
    /// is answered within the Redis timeout (a failure reason while Redis is away), announces
    /// succeed again within seconds of each recovery, and the log has one line per transition.
    @Test func redisPausedKilledAndRestartedEmptyUnderLoad() async throws {
        var redis: RedisServer? = try RedisServer(password: "stress")
        let redisPort = try #require(redis?.port)
        let (squall, port) = try Stress.start(storage: "redis://:stress@127.0.0.1:\(redisPort)")
        var stopped = false
        defer { if !stopped { _ = squall.stop() } }
        let samples = Mutex<[Stress.Sample]>([])
        let stop = Stopper()
        let begun = Date()
        let load = Thread {
            var i = 0
            while !stop.stopped {
                let started = Date()
                let target = announceTarget(hash: testHash(125), peer: testPeer("r\(i % 50)"), port: 30_000 + i % 50, left: 1)
                let body = (try? TestClient.get("127.0.0.1", port, target)).flatMap { try? BencodeValue.decode($0.body) }
                let sample = Stress.Sample(
                    at: started.timeIntervalSince(begun), ms: Date().timeIntervalSince(started) * 1000,
                    served: body != nil && body?["failure reason"] == nil)
                samples.withLock { $0.append(sample) }
                i += 1
                usleep(5_000)
            }
        }
        load.start()
        let phase = Double(Stress.scale(2, 10))
        func at(_ t: Double) async throws {
            let wait = t - Date().timeIntervalSince(begun)
            if wait > 0 { try await Task.sleep(for: .milliseconds(Int(wait * 1000))) }
        }
        // Each step's time is read when it happened: on a loaded machine this task may wake
        // late, and the samples are judged against what was done, not what was planned.
        func now() -> Double { Date().timeIntervalSince(begun) }
        let pid = try #require(redis?.process.processIdentifier)
        try await at(1)
        kill(pid, SIGSTOP)
        let paused = now()
        try await at(paused + phase)
        kill(pid, SIGCONT)
        let resumed = now()
        try await at(resumed + 1 + phase)
        kill(pid, SIGKILL)
        redis?.process.waitUntilExit()
        redis = nil
        let killedAt = now()
        try await at(killedAt + phase)
        let restarted = now()
        redis = try RedisServer(password: "stress", port: redisPort)
        // Long enough for the reconnect (backoff) and the log's settling second.
        let end = restarted + max(phase, 4)
        try await at(end)
        stop.stop()
        while load.isExecuting { try await Task.sleep(for: .milliseconds(20)) }
        let status = squall.stop()
        stopped = true
        let all = samples.withLock { $0 }
        func firstServed(after t: Double) -> Double? { all.first { $0.at >= t && $0.served }.map { $0.at - t } }
        let slowest = all.map(\.ms).max() ?? 0
        let failedDuringPause = all.contains { $0.at > paused + 0.6 && $0.at < resumed - 0.1 && !$0.served }
        let backAfterPause = firstServed(after: resumed)
        let backAfterRestart = firstServed(after: restarted)
        let downLines = squall.log.components(separatedBy: "store unavailable").count - 1
        let upLines = squall.log.components(separatedBy: "store available again").count - 1
        let stillLines = squall.log.components(separatedBy: "store still unavailable").count - 1
        if ProcessInfo.processInfo.environment["STRESS_LOG"] != nil {
            for line in squall.log.split(separator: "\n") where line.contains("store") { print("log: \(line)") }
        }
        let pass =
            status == 0 && slowest < 1500 && failedDuringPause && (backAfterPause ?? 99) < 3 && (backAfterRestart ?? 99) < 5
            && downLines == 2 && upLines == 2 && stillLines <= Int(2 * phase / 10) + 2
        Stress.report(
            "Redis paused, killed, restarted empty", pass,
            "\(all.count) announces over \(Int(end)) s, the slowest answered in \(Int(slowest)) ms (timeout 500); served again \(backAfterPause.map { String(format: "%.1f", $0) } ?? "never") s after the pause ended and \(backAfterRestart.map { String(format: "%.1f", $0) } ?? "never") s after the restart; log: \(downLines) unavailable, \(stillLines) still unavailable, \(upLines) available again"
        )
    }

    /// A Redis Cluster master killed for good while clients announce over the cluster's
    /// torrents: the other masters' torrents are served throughout (`cluster-require-full-coverage
    /// no`, as the README advises), the dead master's fail fast while no master owns their slots,
    /// and from node-timeout + 5 s on at least 99 % of every torrent's announces are served again
    /// by the promoted replica, Squall never restarted.
    @Test func aClusterMasterKilledForGoodUnderLoad() async throws {
        let nodeTimeout = 2.0
        let cluster = try RedisCluster(replicasPerMaster: 1, nodeTimeoutMilliseconds: Int(nodeTimeout * 1000), requireFullCoverage: false)
        let (squall, port) = try Stress.start(storage: cluster.url)
        var stopped = false
        defer { if !stopped { _ = squall.stop() } }
        // Which master holds each torrent: its bucket's slot (the XOR of the hash's bytes).
        // (testHash's bytes XOR to one value: its last byte is changed to spread the buckets.)
        let hashes = (1...60).map { n in testHash(UInt8(n)).enumerated().map { $0.offset == 19 ? $0.element ^ UInt8(n) : $0.element } }
        let owners = try hashes.map { try cluster.owner(of: try cluster.slot(ofInfoHash: $0)) }
        let victim = owners[0]
        let onVictim = Set(owners.indices.filter { owners[$0] == victim })
        let samples = Mutex<[Stress.Sample]>([])
        let stop = Stopper()
        let begun = Date()
        let clients = Stress.scale(2, 4)
        let load = (0..<clients).map { c in
            Thread {
                var i = c
                while !stop.stopped {
                    let started = Date()
                    let t = i % hashes.count
                    let target = announceTarget(hash: hashes[t], peer: testPeer("c\(c)p\(i % 40)"), port: 30_000 + i % 40, left: 1)
                    let body = (try? TestClient.get("127.0.0.1", port, target)).flatMap { try? BencodeValue.decode($0.body) }
                    let sample = Stress.Sample(
                        at: started.timeIntervalSince(begun), ms: Date().timeIntervalSince(started) * 1000, torrent: t,
                        served: body != nil && body?["failure reason"] == nil)
                    samples.withLock { $0.append(sample) }
                    i += clients
                }
            }
        }
        load.forEach { $0.start() }
        try await Task.sleep(for: .seconds(2))
        kill(cluster.nodes[victim].process.processIdentifier, SIGKILL)
        // Read when it happened: on a loaded machine this task may wake late, and the samples
        // are judged against the kill, not against the plan.
        let killedAt = Date().timeIntervalSince(begun)
        let recovered = killedAt + nodeTimeout + 5
        let end = recovered + Double(Stress.scale(3, 20))
        try await Task.sleep(for: .milliseconds(Int((end - Date().timeIntervalSince(begun)) * 1000)))
        stop.stop()
        while load.contains(where: \.isExecuting) { try await Task.sleep(for: .milliseconds(20)) }
        let status = squall.stop()
        stopped = true
        let all = samples.withLock { $0 }
        func share(_ of: [Stress.Sample]) -> (served: Int, all: Int) { (of.filter(\.served).count, of.count) }
        func percent(_ s: (served: Int, all: Int)) -> String {
            String(format: "%.2f %% of %d", 100 * Double(s.served) / Double(max(1, s.all)), s.all)
        }
        let before = share(all.filter { $0.at < killedAt })
        let others = share(all.filter { $0.at >= killedAt && !onVictim.contains($0.torrent) })
        let window = share(all.filter { $0.at >= killedAt + 0.2 && $0.at < killedAt + nodeTimeout && onVictim.contains($0.torrent) })
        let after = share(all.filter { $0.at >= recovered })
        let firstBack = all.first { $0.at >= killedAt && onVictim.contains($0.torrent) && $0.served }.map { $0.at - killedAt }
        let slowest = all.map(\.ms).max() ?? 0
        func atLeast99(_ s: (served: Int, all: Int)) -> Bool { s.all > 0 && Double(s.served) >= 0.99 * Double(s.all) }
        let pass =
            status == 0 && atLeast99(before) && atLeast99(others) && window.all > 0 && window.served < window.all && atLeast99(after)
            && slowest < 1500
        Stress.report(
            "cluster master killed for good", pass,
            "three masters with a replica each (node timeout \(Int(nodeTimeout)) s), the master of \(onVictim.count) of 60 torrents killed: before \(percent(before)) served; the other masters' torrents \(percent(others)) served meanwhile; the dead master's torrents served again \(firstBack.map { String(format: "%.1f", $0) } ?? "never") s after the kill; from node-timeout + 5 s on \(percent(after)) served; the slowest answer \(Int(slowest)) ms (timeout 500)"
        )
    }
}
