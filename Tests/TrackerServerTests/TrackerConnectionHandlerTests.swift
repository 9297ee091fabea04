import Logging
import MemoryStore
import NIOCore
import NIOEmbedded
import Testing
import TrackerCore
import TrackerProtocol
import TrackerTestSupport

@testable import TrackerServer

/// The connection handler on an `EmbeddedChannel`: bytes in, bytes out, no sockets and no
/// threads, so each step of reading, routing and writing is seen as it happens.
@Suite struct TrackerConnectionHandlerTests {
    struct Connection {
        let channel: EmbeddedChannel
        let store: MemoryPeerStore

        /// Every byte written to the client so far.
        func written() throws -> String {
            var out = ""
            while let b = try channel.readOutbound(as: ByteBuffer.self) { out += String(buffer: b) }
            return out
        }

        func send(_ text: String) throws { try channel.writeInbound(ByteBuffer(string: text)) }
    }

    static func connection(maxHeaderBytes: Int = 1024) throws -> Connection {
        let loop = EmbeddedEventLoop()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let store = MemoryPeerStore(clock: ManualTrackerClock(), peerTTL: 1860)
        let router = TrackerRouter(store: store, config: SquallConfig(), logger: logger, bulk: BulkWork(threads: 1, limit: 1))
        let limits = ConnectionLimits(
            maxHeaderBytes: maxHeaderBytes, idleTimeout: .seconds(30), headerTimeout: .seconds(10), writeTimeout: .seconds(10))
        let handler = TrackerConnectionHandler(
            router: router, registry: ConnectionRegistry(group: loop), source: nil,
            machine: ConnectionStateMachine(limits: limits, acceptedAt: .now()))
        let channel = EmbeddedChannel(handler: handler, loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40_000)).wait()
        return Connection(channel: channel, store: store)
    }

    static func announce(_ peer: String, port: Int) -> String {
        "GET \(announceTarget(hash: testHash(90), peer: testPeer(peer), port: port, left: 1)) HTTP/1.1\r\nHost: t\r\n\r\n"
    }

    @Test func pipelinedAnnouncesInOneReadAreAnsweredInOrder() throws {
        let c = try Self.connection()
        try c.send(Self.announce("a", port: 7001) + Self.announce("b", port: 7002) + Self.announce("c", port: 7003))
        let out = try c.written()
        let replies = out.components(separatedBy: "HTTP/1.1 200 OK\r\n").dropFirst()
        #expect(replies.count == 3, "\(out)")
        for (i, reply) in replies.enumerated() { #expect(reply.contains("10:incompletei\(i + 1)e"), "reply \(i + 1): \(reply)") }
        #expect(c.channel.isActive, "keep-alive: still open")
        // A head split anywhere is answered once its last byte arrives.
        let split = Self.announce("d", port: 7004)
        try c.send(String(split.dropLast(3)))
        #expect(try c.written().isEmpty)
        try c.send(String(split.suffix(3)))
        #expect(try c.written().contains("10:incompletei4e"))
        _ = try c.channel.finish()
    }

    @Test func anOversizedHeadIsRefusedWith431AndClosed() throws {
        let c = try Self.connection(maxHeaderBytes: 512)
        try c.send("GET /health HTTP/1.1\r\nX: " + String(repeating: "a", count: 1000))
        let out = try c.written()
        #expect(out.hasPrefix("HTTP/1.1 431 "), "\(out)")
        #expect(out.contains("Connection: close"))
        #expect(!c.channel.isActive)
    }

    @Test func aRequestThatAsksToCloseIsAnsweredThenClosed() throws {
        let c = try Self.connection()
        try c.send("GET /announce?info_hash=short HTTP/1.1\r\nConnection: close\r\n\r\n")
        let out = try c.written()
        #expect(out.hasPrefix("HTTP/1.1 200 OK\r\n") && out.contains("failure reason"), "\(out)")
        #expect(!c.channel.isActive)
        #expect(c.store.totalsNow() == SwarmTotals())
    }
}
