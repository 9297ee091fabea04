public import Foundation
public import RedisStore

/// A real Redis Cluster (Debian's redis-server), three masters by default, optionally with
/// replicas, made for the tests on free ports with `redis-cli --cluster create`, killed when
/// released. Ready when every node reports `cluster_state:ok`, polled, never slept on blindly.
public final class RedisCluster: @unchecked Sendable {
    public struct Node {
        public let port: Int
        public let process: Process
        public var endpoint: RedisEndpoint { .tcp(host: "127.0.0.1", port: port) }
    }
    public let nodes: [Node]
    public let dir: String

    /// `nodeTimeout` is `cluster-node-timeout`: how long a master may be unreachable before its
    /// replica is promoted. `requireFullCoverage` is `cluster-require-full-coverage`: when true
    /// (Redis's default) every master refuses commands while any slot has no master.
    public init(replicasPerMaster: Int = 0, nodeTimeoutMilliseconds: Int = 15_000, requireFullCoverage: Bool = true) throws {
        dir = TestFiles.path("cluster")
        var nodes: [Node] = []
        for i in 0..<(3 * (1 + replicasPerMaster)) {
            let nodeDir = dir + "/\(i)"
            try FileManager.default.createDirectory(atPath: nodeDir, withIntermediateDirectories: true)
            let port = try FreePort.next()
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
            p.arguments = [
                "--port", "\(port)", "--cluster-port", "\(try FreePort.next())", "--bind", "127.0.0.1",
                "--cluster-enabled", "yes", "--cluster-config-file", nodeDir + "/nodes.conf", "--save", "", "--appendonly", "no",
                "--dir", nodeDir, "--enable-debug-command", "local", "--cluster-node-timeout", "\(nodeTimeoutMilliseconds)",
                "--cluster-require-full-coverage", requireFullCoverage ? "yes" : "no",
                // A replica's first sync starts at once, not after Redis's default 5 s wait for
                // more replicas to share it: on a loaded machine that wait once passed the 45 s
                // the suite gives a cluster to come up.
                "--repl-diskless-sync-delay", "0",
            ]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            nodes.append(Node(port: port, process: p))
        }
        self.nodes = nodes
        for n in nodes { try Self.waitFor(n.port, "to answer PING") { (try? $0.command("PING")) == .status("PONG") } }
        let create = Process()
        create.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
        create.arguments =
            ["--cluster", "create"] + nodes.map { "127.0.0.1:\($0.port)" } + [
                "--cluster-replicas", "\(replicasPerMaster)", "--cluster-yes",
            ]
        create.standardOutput = FileHandle.nullDevice
        create.standardError = FileHandle.nullDevice
        try create.run()
        create.waitUntilExit()
        guard create.terminationStatus == 0 else { throw RedisError("redis-cli --cluster create failed") }
        for n in nodes {
            try Self.waitFor(n.port, "to report cluster_state:ok") { c in
                guard case .string(let info) = try? c.command("CLUSTER", "INFO") else { return false }
                return String(decoding: info, as: UTF8.self).contains("cluster_state:ok")
            }
            // A replica that never finished its first sync would not take over from its master.
            try Self.waitFor(n.port, "to finish its first sync") { c in
                guard case .string(let info) = try? c.command("INFO", "replication") else { return false }
                let text = String(decoding: info, as: UTF8.self)
                return text.contains("role:master") || text.contains("master_link_status:up")
            }
        }
    }

    public var url: String { "redis+cluster://" + nodes.map { "127.0.0.1:\($0.port)" }.joined(separator: ",") }

    public func connection(_ i: Int) throws -> BlockingRedisConnection {
        try BlockingRedisConnection(nodes[i].endpoint, timeout: .seconds(5))
    }

    /// This node's id.
    public func id(_ i: Int) throws -> String {
        guard case .string(let id) = try connection(i).command("CLUSTER", "MYID") else { throw RedisError("no id") }
        return String(decoding: id, as: UTF8.self)
    }

    /// The slot of a torrent's keys: its bucket's tag, `{bB}`, B the XOR of the info_hash's
    /// bytes (as the store names them), asked of the cluster itself.
    public func slot(ofInfoHash bytes: [UInt8]) throws -> Int {
        guard case .integer(let slot) = try connection(0).command("CLUSTER", "KEYSLOT", "{b\(bytes.reduce(0, ^))}") else {
            throw RedisError("no slot")
        }
        return slot
    }

    /// Which node serves `slot`.
    public func owner(of slot: Int) throws -> Int {
        guard case .array(let ranges) = try connection(0).command("CLUSTER", "SLOTS") else { throw RedisError("no slots") }
        for r in ranges {
            guard let a = r.array, let lo = a[0].integer, let hi = a[1].integer, (lo...hi).contains(slot), let port = a[2].array?[1].integer
            else { continue }
            return nodes.firstIndex { $0.port == port }!
        }
        throw RedisError("slot \(slot) has no owner")
    }

    /// Polls until `ready`; 45 s, as a loaded two-core machine running the whole suite can take
    /// long to bring six nodes and their replication up.
    private static func waitFor(_ port: Int, _ what: String, _ ready: (BlockingRedisConnection) -> Bool) throws {
        let deadline = Date().addingTimeInterval(45)
        while Date() < deadline {
            if let c = try? BlockingRedisConnection(.tcp(host: "127.0.0.1", port: port), timeout: .seconds(1)), ready(c) { return }
            usleep(50_000)
        }
        throw RedisError("redis cluster node on port \(port) did not come up \(what) within 45 s")
    }

    deinit {
        for n in nodes where n.process.isRunning {
            kill(n.process.processIdentifier, SIGKILL)
            n.process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: dir)
    }
}
