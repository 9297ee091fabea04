import Foundation
import Testing
import TrackerServer
import TrackerTestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// A datagram socket standing in for systemd's notify socket: a path, or a name in the
/// abstract namespace (`@name`).
final class NotifySocket {
    let fd: Int32
    /// What `$NOTIFY_SOCKET` says.
    let environmentValue: String
    private let path: String?

    init(abstract: Bool) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        let name = "squall-notify-\(UUID().uuidString.prefix(8))"
        path = abstract ? nil : NSTemporaryDirectory() + name
        environmentValue = abstract ? "@" + name : path!
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = abstract ? [0] + Array(name.utf8) : Array(path!.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0 else { throw TestClient.Failure(description: "bind: errno \(errno)") }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// The next datagram (nil after 30 s without one).
    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n < 0 ? nil : String(decoding: buffer[..<n], as: UTF8.self)
    }

    deinit {
        close(fd)
        if let path { unlink(path) }
    }
}

@Suite struct SystemdNotifyTests {
    /// `READY=1` once the listeners are bound (a client gets in at once), `STOPPING=1` when
    /// SIGTERM starts the drain; over a socket path and over an abstract name.
    @Test(arguments: [false, true])
    func systemdHearsReadyWhenBoundAndStoppingWhenDraining(abstract: Bool) throws {
        let notify = try NotifySocket(abstract: abstract)
        let p = try SquallProcess(["--http", "127.0.0.1:0"], environment: ["NOTIFY_SOCKET": notify.environmentValue])
        let ready = notify.receive()
        #expect(ready?.split(separator: "\n").contains("READY=1") == true, "\(ready ?? "nothing")")
        #expect(p.waitFor("ready"))
        let port = try #require(p.ports("http").first)
        #expect(try TestClient.get("127.0.0.1", port, "/health").status == 200)
        p.signal(SIGTERM)
        let stopping = notify.receive()
        #expect(stopping?.split(separator: "\n").contains("STOPPING=1") == true, "\(stopping ?? "nothing")")
        #expect(p.stop() == 0)
    }

    @Test func noSocketNoNotifier() {
        #expect(SystemdNotifier(environment: [:]) == nil)
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": ""]) == nil)
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": "vsock:2:1234"]) == nil)
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": "/" + String(repeating: "x", count: 200)]) == nil)
        // A socket nobody listens on: the datagram is lost, the tracker carries on.
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": "/nonexistent/notify"])?.notify("READY=1") == false)
    }
}

/// The shipped unit files, checked by systemd's own tools (they work without systemd running).
@Suite struct UnitFileTests {
    static func run(_ args: [String]) throws -> (status: Int32, output: String) { try runTool("/usr/bin/systemd-analyze", args) }

    /// A copy of the unit running the squall built beside the tests (verify checks that the
    /// binary exists).
    static func unitCopy(_ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("squall-unit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let text = try String(contentsOf: repoRoot.appendingPathComponent("contrib/systemd/\(name)"), encoding: .utf8)
        let file = dir.appendingPathComponent(name)
        try text.replacingOccurrences(of: "/usr/bin/squall", with: SquallProcess.binary.path).write(
            to: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test func theServiceVerifiesAndScoresAsHardened() throws {
        let service = try Self.unitCopy("squall.service")
        let socket = service.deletingLastPathComponent().appendingPathComponent("squall.socket")
        try FileManager.default.copyItem(at: repoRoot.appendingPathComponent("contrib/systemd/squall.socket"), to: socket)
        defer { try? FileManager.default.removeItem(at: service.deletingLastPathComponent()) }
        let verified = try Self.run(["verify", service.path, socket.path])
        #expect(verified.status == 0 && verified.output.isEmpty, "\(verified.output)")
        let security = try Self.run(["security", "--offline=true", service.path])
        // "Overall exposure level for squall.service: 1.6 OK": opentracker's Debian unit is 9.0.
        let level = security.output.split(separator: "\n").first { $0.contains("Overall exposure level") }
            .flatMap { line in line.split(separator: " ").compactMap { Double($0) }.first }
        #expect(level.map { $0 <= 2.0 } == true, "\(security.output)")
    }
}
