import Foundation
import PrivateCore
import RedisStore
import Testing
import TrackerCore
import TrackerTestSupport

@testable import TrackerServer

/// The two homes of the accounting's baselines take the same steps: generated announce traces
/// (several users, torrents and peers, rotation past the peers kept, stops, restarts with
/// `started`, late lower counters, seeders and leechers, long silences) through the memory
/// table and through Redis's script give the same deltas, completions and `history.active`.
@Suite struct AccountBaselinesTests {
    static func step(_ b: any AccountBaselines, _ a: Announce, ticket: StepTicket? = nil) async throws -> TorrentAccount.Step? {
        let result: Result<TorrentAccount.Step?, StoreError> = await withCheckedContinuation { c in
            b.step(
                a.key, peerID: a.peer, uploaded: a.uploaded, downloaded: a.downloaded, left: a.left, event: a.event, now: a.now,
                window: 120, activeTTL: 7200, maxPeers: 3, ticket: ticket
            ) { c.resume(returning: $0) }
        }
        return try result.get()
    }

    struct Announce {
        var key: UserTorrent
        var peer: PeerID
        var uploaded: UInt64
        var downloaded: UInt64
        var left: UInt64
        var event: AnnounceEvent
        var now: UInt32
    }

    static func trace(seed: UInt64, count: Int) -> [Announce] {
        var rng = SplitMix64(seed: seed)
        var now: UInt32 = 1_767_225_600
        var counters: [Int: (UInt64, UInt64)] = [:]
        var out: [Announce] = []
        for _ in 0..<count {
            let user = UInt32.random(in: 1...2, using: &rng)
            let torrent = UInt32.random(in: 1...2, using: &rng)
            let n = Int.random(in: 0..<5, using: &rng)
            let id = Int(user) * 100 + Int(torrent) * 10 + n
            var (up, down) = counters[id] ?? (0, 0)
            var event = AnnounceEvent.none
            switch Int.random(in: 0..<20, using: &rng) {
            case 0: event = .stopped
            case 1:
                event = .started
                (up, down) = (UInt64.random(in: 0...50, using: &rng), 0)
            case 2: (up, down) = (up / 2, down)  // a late, lower snapshot
            case 3: event = .completed
            default:
                up += UInt64.random(in: 0...1 << 40, using: &rng)
                down += UInt64.random(in: 0...1000, using: &rng)
            }
            if event == .none || event == .started || event == .completed {
                counters[id] = (max(up, counters[id]?.0 ?? 0), max(down, counters[id]?.1 ?? 0))
            }
            now += [0, 1, 30, 100, 120, 121, 1800, 9000][Int.random(in: 0..<8, using: &rng)]
            out.append(
                Announce(
                    key: UserTorrent(user: user, torrent: torrent), peer: PeerID(Bytes20(Array(repeating: UInt8(id % 256), count: 20))!),
                    uploaded: up, downloaded: down, left: Bool.random(using: &rng) ? 0 : 5, event: event, now: now))
        }
        // The window's edges, for one peer: a lower counter exactly at the window is stale, one
        // second past it a restart.
        let edge = PeerID(Bytes20(Array(repeating: 0xEE, count: 20))!)
        let key = UserTorrent(user: 3, torrent: 3)
        for (up, dt) in [(1000, 0), (500, 120), (400, 121), (300, 120)] as [(UInt64, UInt32)] {
            now += dt
            out.append(Announce(key: key, peer: edge, uploaded: up, downloaded: 0, left: 5, event: .none, now: now))
        }
        return out
    }

    @Test func memoryAndRedisTakeTheSameSteps() async throws {
        let server = try RedisServer()
        let redis = RedisPeerStore(endpoint: server.endpoint, connections: 1, peerTTL: 1860)
        defer { redis.close() }
        var (held, forgotten) = (0, 0)
        for seed in UInt64(1)...20 {
            let memory = MemoryAccountBaselines(capacity: 100, ttl: 1_814_400)
            let shared = RedisAccountBaselines(store: redis, ttl: 1_814_400, instance: "conformance")
            // Each seed on its own torrents, so Redis starts empty for it.
            var completions = 0
            var seen: [UserTorrent: Set<PeerID>] = [:]
            for (n, a) in Self.trace(seed: seed, count: 300).enumerated() {
                var a = a
                a.key.torrent += UInt32(seed) * 10
                // Redis's steps with tickets: the step field beside the peers changes nothing.
                let ticket = StepTicket(token: UInt64(n + 1), low: UInt64(n + 1))
                let (m, r) = (try await Self.step(memory, a), try await Self.step(shared, a, ticket: ticket))
                #expect(m == r, "seed \(seed): \(a)")
                guard m == r else { return }
                if m?.completion == true { completions += 1 }
                seen[a.key, default: []].insert(a.peer)
            }
            #expect(completions <= 4, "one completion per (user, torrent) at most")
            // Both keep the same baselines (the site API's torrent view reads them), and forget
            // the same rotated-out peers.
            for torrent in Set(seen.keys.map(\.torrent)) {
                let peers = seen.filter { $0.key.torrent == torrent }.flatMap { k, ps in ps.map { (user: k.user, peerID: $0) } }
                let (m, r) = (
                    await memory.baselines(torrent: torrent, peers: peers), await shared.baselines(torrent: torrent, peers: peers)
                )
                #expect(m == r, "seed \(seed), torrent \(torrent)")
                (held, forgotten) = (held + m.count { $0 != nil }, forgotten + m.count { $0 == nil })
            }
        }
        #expect(held > 0 && forgotten > 0, "\(held) held, \(forgotten) rotated out")
    }

    /// Each step with a ticket leaves its outcome under its token in its instance's step field:
    /// read back as the step answered, those below the lowest token still needed dropped, at
    /// most 8 kept (the newest), and each instance's field its own.
    @Test func stepOutcomesAreKeptByTokenUntilNoLongerNeeded() async throws {
        let server = try RedisServer()
        let redis = RedisPeerStore(endpoint: server.endpoint, connections: 1, peerTTL: 1860)
        defer { redis.close() }
        let a = RedisAccountBaselines(store: redis, ttl: 5000, instance: "a")
        let b = RedisAccountBaselines(store: redis, ttl: 5000, instance: "b")
        let key = UserTorrent(user: 5, torrent: 6)
        let peer = PeerID(Bytes20(Array(repeating: 2, count: 20))!)
        func announce(_ up: UInt64, _ now: UInt32, left: UInt64 = 5) -> Announce {
            Announce(key: key, peer: peer, uploaded: up, downloaded: 0, left: left, event: .none, now: now)
        }
        func recorded(_ x: RedisAccountBaselines, _ token: UInt64, _ an: Announce) async throws -> TorrentAccount.Step? {
            let i = AccountIntent(
                token: token, user: key.user, torrent: key.torrent, peerID: peer, at: an.now, agent: [], ip: [127, 0, 0, 1], port: 1,
                uploaded: an.uploaded, downloaded: an.downloaded, left: an.left, event: an.event,
                factors: Factors(upload: 100, download: 100, immune: false), visible: true)
            return try await x.recorded(i, window: 120).get()
        }
        let first = try await Self.step(a, announce(100, 10), ticket: StepTicket(token: 1, low: 1))
        let second = try await Self.step(a, announce(300, 20, left: 0), ticket: StepTicket(token: 2, low: 1))
        let other = try await Self.step(b, announce(350, 30, left: 0), ticket: StepTicket(token: 1, low: 1))
        #expect(second?.outcome.uploaded == 200 && second?.completion == true && other?.outcome.uploaded == 50)
        #expect(try await recorded(a, 1, announce(100, 10)) == first)
        #expect(try await recorded(a, 2, announce(300, 20, left: 0)) == second)
        #expect(try await recorded(b, 1, announce(350, 30, left: 0)) == other)
        #expect(try await recorded(a, 3, announce(300, 20, left: 0)) == nil, "no step of that token")
        // Tokens below 3 are no longer needed: the next step drops them.
        _ = try await Self.step(a, announce(400, 40, left: 0), ticket: StepTicket(token: 3, low: 3))
        #expect(try await recorded(a, 1, announce(100, 10)) == nil)
        #expect(try await recorded(a, 2, announce(300, 20, left: 0)) == nil)
        #expect(try await recorded(a, 3, announce(400, 40, left: 0))?.outcome.uploaded == 50)
        // With 3 still needed, ten more: the newest 8 are kept.
        for t in UInt64(4)...13 {
            _ = try await Self.step(a, announce(400 + t, 40 + UInt32(t), left: 0), ticket: StepTicket(token: t, low: 3))
        }
        let kept = try await redis.recordedSteps(torrent: 6, user: 5, field: RedisPeerStore.stepField(instance: "a")).get()
        #expect(kept.keys.sorted() == Array(6...13))
        #expect(try await recorded(b, 1, announce(350, 30, left: 0)) == other, "b's field is its own")
        // A step field's name is never a peer_id's length.
        #expect(RedisPeerStore.stepField(instance: String(repeating: "x", count: 18)).count == 21)
    }

    @Test func redisKeepsOnePairsHashWithAnExpiry() async throws {
        let server = try RedisServer()
        let redis = RedisPeerStore(endpoint: server.endpoint, connections: 1, peerTTL: 1860)
        defer { redis.close() }
        let b = RedisAccountBaselines(store: redis, ttl: 5000, instance: "ttl")
        let a = Announce(
            key: UserTorrent(user: 7, torrent: 9), peer: PeerID(Bytes20(Array(repeating: 1, count: 20))!), uploaded: 10, downloaded: 0,
            left: 0, event: .none, now: 100)
        _ = try await Self.step(b, a)
        let ttl = try await redis.accountTTL(torrent: 9, user: 7)
        #expect((1...5000).contains(ttl), "an expiry is set (-1 without one), at most the TTL")
    }
}

/// `accounting.sink = "redis-stream"` on a real Redis: a flush is entries of the stream whose
/// JSON rows a site can apply, and a flush already in the stream is not added again.
@Suite struct RedisStreamSinkTests {
    @Test func flushesBecomeStreamEntriesOnce() async throws {
        let server = try RedisServer()
        let options = RedisOptions(endpoint: server.endpoint)
        let sink = RedisStreamSink(options: options, instance: "s1", maxLength: 10_000)
        let journal = TestFiles.path("journal")
        defer { try? FileManager.default.removeItem(atPath: journal) }
        #expect(try await sink.prepare(since: 0, limit: 10).sequence == 0)
        let clock = ManualUnixClock(AccountingTests.t0)
        let accounting = try Accounting(
            settings: Accounting.Settings(), directory: journal, committed: 0, baselines: [], logger: TestLogs.logger(level: .trace),
            unixNow: { clock.now })
        try await withRunningTracker(accounting: accounting, PrivateModeTests.configure) { t in
            try PrivateModeTests.seed(t)
            let peer = PrivateModeTests.peerID("-qB5000-S")
            for (n, up) in [0, 4000].enumerated() {
                clock.advance(n == 0 ? 0 : 1800)
                t.clock.advance(by: n == 0 ? 0 : 1800)
                _ = try AccountingTests.announce(t, user: 2, torrent: 1, peer: peer, uploaded: up, downloaded: up, left: 0)
            }
            #expect(await accounting.flush(to: sink) { _ in [1: (seeders: 1, leechers: 0)] })
        }
        let c = try RedisPeerStore.blockingConnection(for: sink.stream, options, timeout: .seconds(5))
        func entries() throws -> [[String: String]] {
            guard case .array(let items) = try c.command([Array("XRANGE".utf8), sink.stream, Array("-".utf8), Array("+".utf8)]) else {
                return []
            }
            return items.compactMap { item -> [String: String]? in
                guard let fields = item.array?.last?.array else { return nil }
                var out: [String: String] = [:]
                for i in stride(from: 0, to: fields.count - 1, by: 2) {
                    out[String(decoding: fields[i].bytes ?? [], as: UTF8.self)] = String(decoding: fields[i + 1].bytes ?? [], as: UTF8.self)
                }
                return out
            }
        }
        let first = try entries()
        #expect(first.map { $0["table"] ?? "" } == ["history", "peers", "torrents", "users"])
        #expect(first.allSatisfy { $0["instance"] == "s1" && $0["sequence"] == "2" })
        func rows(_ table: String) throws -> [[String: Any]] {
            let text = try #require(first.first { $0["table"] == table }?["rows"])
            return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
        }
        let history = try rows("history")
        #expect(history.count == 1)
        #expect(
            history[0]["user_id"] as? Int == 2 && history[0]["actual_uploaded"] as? Int == 4000 && history[0]["uploaded"] as? Int == 4000)
        #expect(history[0]["downloaded"] as? Int == 4000 && history[0]["completed_at"] is NSNull)
        #expect(history[0]["updated_at"] as? Int == Int(AccountingTests.t0) + 1800 && history[0]["agent"] as? String == "qBittorrent/5.0.0")
        let peers = try rows("peers")
        #expect(peers[0]["peer_id"] as? String == hex20(PrivateModeTests.peerID("-qB5000-S")) && peers[0]["ip"] as? String == "127.0.0.1")
        #expect(try rows("torrents")[0]["seeders"] as? Int == 1)
        #expect(try rows("users")[0]["uploaded_delta"] as? Int == 4000)
        #expect(try await sink.prepare(since: 0, limit: 10).sequence == 2)
        // The same flush again (a replay after a crash before the journal was truncated).
        let again = FlushBatch(
            history: [HistoryUpdate(AccountEntry(user: 2, torrent: 1, peerID: PeerID(Bytes20(Array(repeating: 1, count: 20))!), at: 1))],
            sequence: 2)
        #expect(try await sink.write(again) == 0)
        #expect(try entries().count == 4, "a flush already in the stream is not added again")
    }
}
