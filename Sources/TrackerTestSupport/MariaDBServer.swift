public import Foundation

/// A real MariaDB server (Debian's `mariadbd`) started for one test: a throwaway datadir in
/// `TestFiles.directory`, loopback TCP on a free port and a unix socket, `--no-defaults` so
/// nothing of a system MariaDB is read or touched. Created with a database `unit3d` and a TCP
/// user `unit3d`/`unit3d` (root has unix-socket authentication only). Readiness is a ping that
/// answers, not a sleep.
/// The steps are those of `../shared/fixtures/unit3d/README.md`.
public final class MariaDBServer: @unchecked Sendable {
    public let port: Int
    public let dir: String
    public private(set) var process = Process()
    public var socket: String { dir + "/mysqld.sock" }
    public static let user = "unit3d"
    public static let password = "site-db-password-4b1e"
    public static let database = "unit3d"

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public init() throws {
        TestLogs.noteSecret(Self.password)
        dir = TestFiles.path("mariadb")
        // Its own tmpdir: servers bootstrapping side by side in /tmp collide on temporary tables.
        try FileManager.default.createDirectory(atPath: dir + "/tmp", withIntermediateDirectories: true)
        port = try FreePort.next()
        _ = try Self.run(
            "/usr/bin/mariadb-install-db",
            [
                "--no-defaults", "--user=root", "--datadir=\(dir)/data", "--tmpdir=\(dir)/tmp", "--skip-test-db",
                "--auth-root-authentication-method=socket",
            ])
        try launch()
        try sql(
            """
            CREATE DATABASE \(Self.database) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
            CREATE USER '\(Self.user)'@'127.0.0.1' IDENTIFIED BY '\(Self.password)';
            CREATE USER '\(Self.user)'@'localhost' IDENTIFIED BY '\(Self.password)';
            GRANT ALL PRIVILEGES ON \(Self.database).* TO '\(Self.user)'@'127.0.0.1';
            GRANT ALL PRIVILEGES ON \(Self.database).* TO '\(Self.user)'@'localhost';
            """, database: nil)
    }

    /// Starts `mariadbd` on this server's datadir and port and waits until it answers a ping.
    private func launch() throws {
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/mariadbd")
        process.arguments = [
            "--no-defaults", "--user=root", "--datadir=\(dir)/data", "--tmpdir=\(dir)/tmp", "--socket=\(socket)", "--port=\(port)",
            "--bind-address=127.0.0.1",
            "--pid-file=\(dir)/mysqld.pid", "--log-error=\(dir)/error.log", "--skip-log-bin", "--innodb-buffer-pool-size=32M",
            "--innodb-log-file-size=8M", "--performance-schema=OFF",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while (try? Self.run("/usr/bin/mariadb-admin", ["--no-defaults", "-S", socket, "-uroot", "ping"])) == nil {
            guard Date() < deadline, process.isRunning else {
                let log = (try? String(contentsOfFile: dir + "/error.log", encoding: .utf8)) ?? ""
                throw Failure(description: "mariadbd did not start on port \(port): \(log.suffix(800))")
            }
            usleep(50_000)
        }
    }

    /// Kills the server (SIGKILL, as a crash) and starts it again on the same data and port.
    public func restart() throws {
        stop()
        process = Process()
        try launch()
    }

    /// Kills the server and leaves it down until `restart`.
    public func crash() { stop() }

    /// Runs SQL as root over the socket (in `database`, `unit3d` by default).
    public func sql(_ text: String, database: String? = MariaDBServer.database) throws {
        TestLogs.noteSecrets(in: text)
        _ = try Self.run("/usr/bin/mariadb", ["--no-defaults", "-S", socket, "-uroot"] + (database.map { [$0] } ?? []), input: text)
    }

    /// Loads a file of SQL (the fixture's schema, its seed rows).
    public func load(_ path: String) throws {
        try sql(try String(contentsOfFile: path, encoding: .utf8))
    }

    /// Loads UNIT3D's schema and `seed-minimal.sql` from `../shared/fixtures/unit3d/`.
    public func loadUNIT3DFixture(seed: Bool = true) throws {
        let fixtures = repoRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures/unit3d")
        try load(fixtures.appendingPathComponent("mysql-schema.sql").path)
        if seed { try load(fixtures.appendingPathComponent("seed-minimal.sql").path) }
    }

    /// `private.database_url` for this server over TCP.
    public var url: String { "mysql://\(Self.user):\(Self.password)@127.0.0.1:\(port)/\(Self.database)" }

    /// Stops the server (SIGKILL: nothing in it is worth a clean exit) and removes its files.
    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: dir)
    }

    @discardableResult
    static func run(_ tool: String, _ args: [String], input: String? = nil) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let inPipe = Pipe()
        if input != nil { p.standardInput = inPipe }
        try p.run()
        if let input {
            inPipe.fileHandleForWriting.write(Data(input.utf8))
            try inPipe.fileHandleForWriting.close()
        }
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw Failure(description: "\(tool) \(args.first ?? ""): \(String(decoding: errors, as: UTF8.self).prefix(500))")
        }
        return String(decoding: output, as: UTF8.self)
    }
}
