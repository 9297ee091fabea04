import NIOPosix
import RedisStore
import StoreConformance
import Testing
import TrackerCore

/// The NIO side of the Redis client: pipelining, timeouts, authentication, against real servers.
@Suite struct RedisPipelineTests {
    static func announce(_ s: RedisStore, hash: Int = 1, peer: Int) async throws -> SwarmReply {
        try await s.announce(
            PeerAnnounce(
                infoHash: StoreConformance.hashForTests(hash), peerID: StoreConformance.peerForTests(peer),
                endpoint: Endpoint(address: .v4(IPv4Address(10, 0, UInt8(peer >> 8), UInt8(peer & 0xff))), port: 6881),
                role: peer % 3 == 0 ? .seeder : .leecher, numwant: 50))
    }

    /// An announce and how long the store took to answer it, timed from the call to the
    /// completion (on the store's thread), so a busy test scheduler cannot stretch it.
    static func timedAnnounce(_ s: RedisStore, peer: Int) async -> (Result<SwarmReply, StoreError>, Duration) {
        let a = PeerAnnounce(
            infoHash: StoreConformance.hashForTests(1), peerID: StoreConformance.peerForTests(peer),
            endpoint: Endpoint(address: .v4(IPv4Address(10, 0, 0, UInt8(peer))), port: 6881), role: .leecher, numwant: 50)
        return await withCheckedContinuation { c in
            let started = ContinuousClock.now
            s.announce(a) { c.resume(returning: ($0, ContinuousClock.now - started)) }
        }
    }

    /// Clients connected to `server`, not counting the one asking.
    static func clients(_ server: RedisServer) throws -> Int {
        let c = try RedisConnection(server.endpoint, timeout: .seconds(2))
        guard case .string(let list) = try c.command("CLIENT", "LIST") else { return -1 }
        return String(decoding: list, as: UTF8.self).split(separator: "\n").count - 1
    }

    @Test func concurrentAnnouncesArePipelinedOnOneConnection() async throws {
        let server = try RedisServer()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let store = RedisStore(endpoint: server.endpoint, connections: 1, group: group, clock: ManualTrackerClock(), peerTTL: 1860)
        let replies = try await withThrowingTaskGroup(of: SwarmReply.self) { tasks in
            for peer in 1...400 { tasks.addTask { try await Self.announce(store, hash: peer % 4, peer: peer) } }
            return try await tasks.reduce(into: []) { $0.append($1) }
        }
        #expect(replies.count == 400)
        #expect(try Self.clients(server) == 1, "one loop, one connection, 400 announces in flight")
        let totals = try await store.totals()
        #expect(totals == SwarmTotals(torrents: 4, peers: 400, seeders: 133, leechers: 267, ipv4Endpoints: 400))
        // Every reply is a consistent snapshot: the announcer is counted, the sample excludes it.
        for r in replies { #expect(r.complete + r.incomplete >= 1 && r.peers.count <= min(50, r.complete + r.incomplete - 1)) }
        store.close()
        try await group.shutdownGracefully()
    }

    @Test func aStalledRedisFailsAnnouncesWithinTheTimeoutThenRecovers() async throws {
        let server = try RedisServer()
        let store = RedisStore(endpoint: server.endpoint, timeout: .milliseconds(300), clock: ManualTrackerClock(), peerTTL: 1860)
        _ = try await Self.announce(store, peer: 1)
        // CLIENT PAUSE holds every client's commands for 2 s; it has begun when it answers.
        let admin = try RedisConnection(server.endpoint, timeout: .seconds(5))
        #expect(try admin.command("CLIENT", "PAUSE", "2000", "ALL") == .status("OK"))
        let (result, took) = await Self.timedAnnounce(store, peer: 2)
        #expect(result.failure?.failure.reason == "storage unavailable, retry later", "\(result)")
        #expect(took < .milliseconds(1500), "failed at the 300 ms timeout, not when Redis woke")
        var reply: SwarmReply?
        for _ in 0..<200 where reply == nil {
            reply = try? await Self.announce(store, peer: 3)
            if reply == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        // Peer 3 is a seeder; peer 2's announce may or may not have run once Redis woke.
        #expect(reply?.complete == 1 && (reply?.incomplete == 1 || reply?.incomplete == 2), "back: \(String(describing: reply))")
    }

    @Test func aWrongPasswordFailsAnnouncesAndNeverHangs() async throws {
        let server = try RedisServer()
        let c = try RedisConnection(server.endpoint, timeout: .seconds(2))
        _ = try c.command("CONFIG", "SET", "requirepass", "right")
        let wrong = RedisStore(
            options: RedisOptions(endpoint: server.endpoint, password: "wrong"), clock: ManualTrackerClock(), peerTTL: 1860)
        await #expect(throws: StoreError.self) { try await Self.announce(wrong, peer: 1) }
        let right = RedisStore(
            options: RedisOptions(endpoint: server.endpoint, password: "right"), clock: ManualTrackerClock(), peerTTL: 1860)
        #expect(try await Self.announce(right, peer: 1).incomplete == 1)
    }
}

extension Result {
    var failure: Failure? { if case .failure(let e) = self { e } else { nil } }
}
