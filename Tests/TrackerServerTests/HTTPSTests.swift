import Foundation
import Testing
import TrackerProtocol
import TrackerTLS
import TrackerTestSupport

/// HTTPS end to end: real OpenSSL handshakes from curl and `openssl s_client`, verified against
/// the fixture CA, over 127.0.0.1 and ::1.
@Suite struct HTTPSTests {
    func url(_ host: String, _ port: Int, _ target: String) -> String {
        "https://\(host.contains(":") ? "[\(host)]" : host):\(port)\(target)"
    }

    @Test func announceAndScrapeOverTLS12And13OnBothFamilies() async throws {
        let f = try TLSFixtures()
        defer { f.cleanup() }
        let t = try await RunningTracker.start(tls: try ReloadableTLSContexts(pairs: [(f.cert, f.key)]))
        let port = try #require(t.tlsPort)
        var peers = 0
        for host in ["127.0.0.1", "::1"] {
            for version in [["--tlsv1.2", "--tls-max", "1.2"], ["--tlsv1.3"]] {
                peers += 1
                let r = try curl(
                    ["--cacert", f.ca] + version + [
                        url(host, port, announceTarget(hash: testHash(40), peer: testPeer("tls\(peers)"), left: 1))
                    ])
                #expect(r.status == 0, "\(host) \(version)")
                let reply = try BencodeValue.decode(r.body)
                #expect(reply["incomplete"] == .int(peers), "\(host) \(version)")
            }
        }
        let scrape = try curl(["--cacert", f.ca, url("::1", port, "/scrape?info_hash=\(PercentDecoding.encode(testHash(40)))")])
        let files = try #require(try BencodeValue.decode(scrape.body)["files"]?.dictEntries)
        #expect(files.first?.1["incomplete"] == .int(4))
        // The plain HTTP listener serves the same swarm.
        #expect(try t.announce("127.0.0.1", hash: testHash(40), peer: testPeer("plain"), left: 1)["incomplete"] == .int(5))
        try await t.stop()
    }

    @Test func metricsCountHTTPSAndShowTheCertificateExpiry() async throws {
        let f = try TLSFixtures()
        defer { f.cleanup() }
        let t = try await RunningTracker.start(tls: try ReloadableTLSContexts(pairs: [(f.cert, f.key)]))
        let port = try #require(t.tlsPort)
        let r = try curl(["--cacert", f.ca, url("127.0.0.1", port, announceTarget(hash: testHash(41), peer: testPeer("m"), left: 1))])
        #expect(r.status == 0)
        let metrics = String(decoding: try curl(["--cacert", f.ca, url("127.0.0.1", port, "/metrics")]).body, as: UTF8.self)
        let lines = metrics.split(separator: "\n")
        #expect(lines.contains(#"squall_requests_total{route="announce",transport="https",family="ipv4",outcome="ok"} 1"#), "\(metrics)")
        // The development certificate lives for days: the gauge holds seconds until it expires.
        let expiry = lines.first { $0.hasPrefix("squall_certificate_expiry_seconds ") }.flatMap { Double($0.split(separator: " ")[1]) }
        #expect((expiry ?? 0) > 3600, "\(metrics)")
        let summary = String(decoding: try curl(["--cacert", f.ca, url("127.0.0.1", port, "/stats.json")]).body, as: UTF8.self)
        #expect(summary.contains(#""https":{"total":1,"#) && summary.contains(#""certificate_expires_in":"#), "\(summary)")
        try await t.stop()
    }

    @Test func tls11IsRefusedAndHealthReportsTheExpiry() async throws {
        let f = try TLSFixtures()
        defer { f.cleanup() }
        let t = try await RunningTracker.start(tls: try ReloadableTLSContexts(pairs: [(f.cert, f.key)]))
        let port = try #require(t.tlsPort)
        // The client is allowed TLS 1.1 (security level 0), so a refusal is the server's.
        let old = try curl([
            "--cacert", f.ca, "--tlsv1.1", "--tls-max", "1.1", "--ciphers", "DEFAULT@SECLEVEL=0", url("127.0.0.1", port, "/health"),
        ])
        #expect(old.status == 35, "TLS handshake refused")
        let ok = try curl([
            "--cacert", f.ca, "--tlsv1.2", "--tls-max", "1.2", "--ciphers", "DEFAULT@SECLEVEL=0", url("127.0.0.1", port, "/health"),
        ])
        #expect(ok.status == 0)
        let health = String(decoding: ok.body, as: UTF8.self)
        let seconds = health.split(separator: ":").last.flatMap { Int($0.prefix { $0.isNumber }) } ?? 0
        #expect(health.contains("\"certificate_expires_in\":") && seconds > 80 * 86_400 && seconds <= 90 * 86_400)
        try await t.stop()
    }

    @Test func plaintextAndGarbageOnTheTLSPortAreClosedWithoutDisturbingOthers() async throws {
        let f = try TLSFixtures()
        defer { f.cleanup() }
        let t = try await RunningTracker.start(tls: try ReloadableTLSContexts(pairs: [(f.cert, f.key)]))
        let port = try #require(t.tlsPort)
        let plaintext = try TestClient(host: "127.0.0.1", port: port)
        try plaintext.send("GET /announce HTTP/1.1\r\nHost: x\r\n\r\n")
        let garbage = try TestClient(host: "::1", port: port)
        try garbage.send((0..<600).map { UInt8(truncatingIfNeeded: $0 &* 37) })
        let answer = try plaintext.readResponse()
        #expect(answer.status == 400 && String(decoding: answer.body, as: UTF8.self).contains("plain HTTP was sent to an HTTPS port"))
        #expect(try plaintext.closedByPeer(), "and the connection is closed")
        #expect(try garbage.closedByPeer())
        #expect(try curl(["--cacert", f.ca, url("::1", port, "/health")]).status == 0)
        try await t.stop()
    }

    @Test func sniChoosesTheCertificate() async throws {
        let f = try TLSFixtures()
        defer { f.cleanup() }
        let (aCert, aKey) = try f.issue("a", cn: "a.test", serial: "A1")
        let (bCert, bKey) = try f.issue("b", cn: "b.test", serial: "B2")
        let t = try await RunningTracker.start(tls: try ReloadableTLSContexts(pairs: [(f.cert, f.key), (aCert, aKey), (bCert, bKey)]))
        let port = try #require(t.tlsPort)
        for name in ["a.test", "b.test", "localhost"] {
            // curl checks the name against the certificate it is given.
            let r = try curl(["--cacert", f.ca, "--resolve", "\(name):\(port):127.0.0.1", "https://\(name):\(port)/health"])
            #expect(r.status == 0, "\(name)")
        }
        #expect(try servedSerial(port, ca: f.ca, serverName: "a.test") == "A1")
        #expect(try servedSerial(port, ca: f.ca, serverName: "b.test") == "B2")
        let defaultSerial = try fileSerial(f.cert)
        #expect(try servedSerial(port, ca: f.ca, serverName: "unknown.test") == defaultSerial, "unknown names get the first certificate")
        try await t.stop()
    }

    @Test func sessionsResumeOverTLS12And13() async throws {
        let f = try TLSFixtures()
        defer { f.cleanup() }
        let t = try await RunningTracker.start(tls: try ReloadableTLSContexts(pairs: [(f.cert, f.key)]))
        let port = try #require(t.tlsPort)
        for version in ["-tls1_2", "-tls1_3"] {
            let session = "\(f.dir)/session\(version).pem"
            let request = "printf 'GET /health HTTP/1.1\\r\\nConnection: close\\r\\n\\r\\n'"
            let first = try shell(
                "\(request) | openssl s_client -ign_eof \(version) -connect 127.0.0.1:\(port) -CAfile '\(f.ca)' -sess_out '\(session)' 2>/dev/null"
            )
            #expect(first.contains("New, TLS") && first.contains("\"status\":\"ok\""))
            let second = try shell(
                "\(request) | openssl s_client -ign_eof \(version) -connect 127.0.0.1:\(port) -CAfile '\(f.ca)' -sess_in '\(session)' 2>/dev/null"
            )
            #expect(second.contains("Reused, TLS"), "\(version) resumed")
        }
        try await t.stop()
    }

    @Test func reloadServesNewCertificatesToNewConnectionsOnlyAndKeepsOpenOnesWorking() async throws {
        let f = try TLSFixtures()
        defer { f.cleanup() }
        let contexts = try ReloadableTLSContexts(pairs: [(f.cert, f.key)])
        let t = try await RunningTracker.start(tls: contexts)
        let port = try #require(t.tlsPort)
        let oldSerial = try servedSerial(port, ca: f.ca)

        // A connection opened before the reload.
        let open = try OpenSSLClient(port: port, ca: f.ca)
        #expect(try open.get(announceTarget(hash: testHash(41), peer: testPeer("kept"), left: 1)).contains("8:intervali"))

        try shell("rm '\(f.cert)' && '\(repoRoot.path)/certs/make-dev-cert.sh' '\(f.dir)' >/dev/null")
        let newSerial = try fileSerial(f.cert)
        #expect(newSerial != oldSerial)
        try contexts.reload()
        #expect(try servedSerial(port, ca: f.ca) == newSerial, "new connections get the new certificate")
        #expect(
            try open.get(announceTarget(hash: testHash(41), peer: testPeer("kept"), left: 1)).contains("8:intervali"),
            "the old connection goes on")
        #expect(try open.get("/health").contains("\"status\":\"ok\""))
        let after = try curl(["--cacert", f.ca, url("127.0.0.1", port, announceTarget(hash: testHash(41), peer: testPeer("new"), left: 1))])
        #expect(try BencodeValue.decode(after.body)["incomplete"] == .int(2), "the swarm is untouched by the reload")

        // A reload with a key that does not match keeps the current certificate.
        let (_, otherKey) = try f.issue("other", cn: "other.test")
        try shell("cp '\(otherKey)' '\(f.key)'")
        #expect(throws: TLSError.self) { try contexts.reload() }
        #expect(try servedSerial(port, ca: f.ca) == newSerial)
        open.close()
        try await t.stop()
    }
}

/// A long-lived TLS connection through `openssl s_client`, for requests on one connection.
final class OpenSSLClient {
    let process = Process()
    let input = Pipe()
    let output = Pipe()
    private var pending: [UInt8] = []

    init(port: Int, ca: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["s_client", "-quiet", "-connect", "127.0.0.1:\(port)", "-CAfile", ca, "-verify_return_error"]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// One keep-alive GET; returns the body as text.
    func get(_ target: String) throws -> String {
        input.fileHandleForWriting.write(Data("GET \(target) HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
        while true {
            if let end = pending.firstRange(of: Array("\r\n\r\n".utf8))?.upperBound {
                let head = String(decoding: pending[..<end], as: UTF8.self).lowercased()
                let length =
                    head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                if pending.count >= end + length {
                    let body = String(decoding: pending[end..<(end + length)], as: UTF8.self)
                    pending.removeFirst(end + length)
                    return body
                }
            }
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { throw TestClient.Failure(description: "s_client closed") }
            pending += chunk
        }
    }

    func close() {
        // s_client outlives SIGTERM while its connection is open; this is only test cleanup.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

@Suite struct HTTPSTimeoutTests {
    @Test func aHandshakeThatDoesNotFinishIsClosed() async throws {
        let f = try TLSFixtures()
        defer { f.cleanup() }
        let t = try await RunningTracker.start(tls: try ReloadableTLSContexts(pairs: [(f.cert, f.key)])) { $0.https.handshakeTimeout = 1 }
        let port = try #require(t.tlsPort)
        let silent = try TestClient(host: "127.0.0.1", port: port)
        // The first bytes of a TLS record header, then nothing.
        let partial = try TestClient(host: "::1", port: port)
        try partial.send([0x16, 0x03, 0x01])
        let started = Date()
        #expect(try silent.closedByPeer())
        #expect(try partial.closedByPeer())
        let waited = Date().timeIntervalSince(started)
        #expect(waited >= 0.5 && waited < 5, "closed by the 1 s handshake timeout, after \(waited) s")
        try await t.stop()
    }
}
