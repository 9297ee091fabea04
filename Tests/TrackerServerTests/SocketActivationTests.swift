import Foundation
import Testing
import TrackerProtocol
import TrackerServer
import TrackerTLS
import TrackerTestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Socket activation: listening sockets systemd holds across restarts are served instead of
/// bound, so a client that connects while the tracker is down waits in the backlog and is
/// answered once it is up.
@Suite struct SocketActivationTests {
    /// A listening socket on 127.0.0.1 (a free port), as systemd would pass it.
    static func listeningSocket() throws -> (fd: CInt, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, len) == 0 && listen(fd, 16) == 0 && getsockname(fd, $0, &len) == 0
            }
        }
        guard ok else { throw TestClient.Failure(description: "listen failed: errno \(errno)") }
        return (fd, Int(UInt16(bigEndian: addr.sin_port)))
    }

    @Test func aClientThatConnectedBeforeTheStartIsAnswered() async throws {
        let (fd, port) = try Self.listeningSocket()
        // The tracker is not running yet: the connection waits in the socket's backlog.
        let early = try TestClient(host: "127.0.0.1", port: port)
        try early.send(
            "GET " + announceTarget(hash: testHash(98), peer: testPeer("early"), port: 7700, left: 1) + " HTTP/1.1\r\nHost: x\r\n\r\n")
        // Configured at the same address: the inherited socket takes that listener's place (a
        // second bind there would fail with EADDRINUSE).
        try await withRunningTracker(inherited: [try InheritedSocket(descriptor: fd, name: "unknown")]) {
            $0.http.listen = [ListenAddress(host: "127.0.0.1", port: port)]
        } _: { t in
            #expect(t.listeners.count == 1 && t.listeners.first?.address.port == port)
            let r = try early.readResponse()
            let reply = try BencodeValue.decode(r.body)
            #expect(r.status == 200 && reply["incomplete"] == .int(1))
            #expect(try t.announce("127.0.0.1", hash: testHash(98), peer: testPeer("later"), left: 1)["incomplete"] == .int(2))
        }
    }

    @Test func anUnconfiguredSocketNamedHttpsServesTLS() async throws {
        let f = try TLSFixtures()
        defer { f.cleanup() }
        let (fd, port) = try Self.listeningSocket()
        try await withRunningTracker(
            tls: try ReloadableTLSContexts(pairs: [(f.cert, f.key)]), inherited: [try InheritedSocket(descriptor: fd, name: "https")]
        ) { t in
            #expect(t.listeners.contains { $0.tls && $0.address.port == port })
            let r = try curl(["--cacert", f.ca, "https://127.0.0.1:\(port)/health"])
            #expect(r.status == 0 && String(decoding: r.body, as: UTF8.self).contains("ok"))
        }
    }

    @Test func whatIsNotAListeningTCPSocketIsRefusedWithOneLine() throws {
        let notListening = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(notListening) }
        #expect(throws: SocketActivationError.self) { try InheritedSocket(descriptor: notListening, name: "http") }
        let datagram = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(datagram) }
        do {
            _ = try InheritedSocket(descriptor: datagram, name: "http")
            Issue.record("a datagram socket was taken")
        } catch {
            #expect("\(error)" == "socket activation: descriptor \(datagram) (http) is not a listening TCP socket")
        }
        // Variables for another process, or none: nothing is taken.
        #expect(try InheritedSocket.take(environment: ["LISTEN_PID": "1", "LISTEN_FDS": "1"]) == nil)
        #expect(try InheritedSocket.take(environment: [:]) == nil)
    }

    /// systemd's own test launcher: it listens, and starts squall with the socket at the first
    /// connection, which squall then answers.
    @Test func underSystemdSocketActivate() throws {
        let port = try FreePort.next()
        let p = try SquallProcess(
            ["-l", "127.0.0.1:\(port)", "--fdname=http", SquallProcess.binary.path, "--http", "127.0.0.1:\(port)"],
            launcher: "/usr/bin/systemd-socket-activate")
        // Until systemd-socket-activate listens (bounded).
        let deadline = Date().addingTimeInterval(10)
        var reply: TestClient.Response?
        while reply == nil, Date() < deadline {
            reply = try? TestClient.get("127.0.0.1", port, announceTarget(hash: testHash(99), peer: testPeer("sa"), left: 1))
            if reply == nil { usleep(50_000) }
        }
        #expect(reply?.status == 200)
        #expect(p.waitFor("from=systemd (http)"), "\(p.log)")
        // "ready" comes once the signal handlers are in place: a SIGTERM before would kill it.
        #expect(p.waitFor(" ready"), "\(p.log)")
        #expect(p.stop() == 0)
    }
}
