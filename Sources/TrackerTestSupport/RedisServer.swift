public import Foundation
public import RedisStore

/// A real `redis-server` (Debian's) started for one test on a free port, without persistence,
/// stopped when released. Readiness is a PING that answers, not a sleep.
public final class RedisServer: @unchecked Sendable {
    public let port: Int
    public private(set) var process = Process()
    public let dir: String
    /// `requirepass`, when the server has one.
    public let password: String?
    /// Listening on its unix socket only (no TCP port: a restart cannot find its port taken).
    public let unixOnly: Bool

    /// On `port` (a free one when nil), asking for `password` when given; `unixOnly`: on the
    /// unix socket alone (`port` is then 0).
    public init(password: String? = nil, port fixed: Int? = nil, unixOnly: Bool = false) throws {
        dir = TestFiles.path("redis")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        port = unixOnly ? 0 : try fixed ?? FreePort.next()
        self.unixOnly = unixOnly
        self.password = password
        password.map(TestLogs.noteSecret)
        try start()
    }

    /// Starts a new, empty server on the same port (after `stop()`).
    public func restart() throws {
        stop()
        process = Process()
        try start()
    }

    private func start() throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        process.arguments =
            [
                "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir,
                "--unixsocket", dir + "/redis.sock", "--unixsocketperm", "700",
                // DEBUG SLEEP lets a test stall the server to check command timeouts.
                "--enable-debug-command", "local",
            ] + (password.map { ["--requirepass", $0] } ?? [])
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        while true {
            if let c = try? BlockingRedisConnection(endpoint, timeout: .seconds(1)),
                password.map({ (try? c.command("AUTH", $0)) == .status("OK") }) ?? true, (try? c.command("PING")) == .status("PONG")
            {
                return
            }
            guard Date() < deadline, process.isRunning else {
                throw RedisError("redis-server did not start on \(unixOnly ? socketPath : "port \(port)")")
            }
            usleep(20_000)
        }
    }

    public var endpoint: RedisEndpoint { unixOnly ? .unix(path: socketPath) : .tcp(host: "127.0.0.1", port: port) }
    public var socketPath: String { dir + "/redis.sock" }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Kills the server at once. SIGKILL, not SIGTERM: a child started from the test process
    /// can inherit a mask that blocks SIGTERM, and this server keeps nothing worth a clean exit.
    public func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
