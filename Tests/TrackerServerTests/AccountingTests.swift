import Foundation
import Logging
import PrivateCore
import RedisStore
import SiteDatabase
import Testing
import TrackerCore
import TrackerProtocol
import TrackerTLS
import TrackerTestSupport

@testable import TrackerServer

/// A wall clock the test moves (unix seconds).
final class ManualUnixClock: Sendable {
    private let seconds: Locked<UInt32>
    init(_ start: UInt32) { seconds = Locked(start) }
    var now: UInt32 { seconds.withLock { $0 } }
    func advance(_ d: UInt32) { seconds.withLock { $0 += d } }
}

/// Private mode's accounting against UNIT3D's own tables on a real MariaDB: real announces over
/// sockets, flushes into the fixture's rows, and the rows read back column by column.
@Suite struct AccountingTests {
    /// 2026-01-01 00:00:00 UTC.
    static let t0: UInt32 = 1_767_225_600

    static func journalDirectory() -> String { TestFiles.path("journal") }

    /// A tracker on the fixture's registry with accounting into `db`, its clock and its
    /// accounting service (flushed by the test).
    static func withAccountingTracker(
        _ db: MariaDBServer, journal: String = journalDirectory(), clock: ManualUnixClock = ManualUnixClock(t0), instance: String = "test",
        baselines: (any AccountBaselines)? = nil, compactBytes: Int? = nil,
        _ body: (RunningTracker, AccountingService, ManualUnixClock) async throws -> Void
    ) async throws {
        let url = try #require(DatabaseURL(db.url))
        let registry = try await PrivateTracker.loadUNIT3D(url)
        var config = SquallConfig()
        PrivateModeTests.configure(&config)
        let sink = UNIT3DSink(url: url, instance: instance, seedtimeGap: 9000)
        let prepared = try await sink.prepare(since: 0, limit: 1000)
        var settings = config.accountingRuntime
        if let compactBytes { settings.compactBytes = compactBytes }
        let accounting = try Accounting(
            settings: settings, directory: journal, committed: prepared.sequence, baselines: prepared.baselines,
            store: baselines, logger: TestLogs.logger(level: .trace), unixNow: { clock.now })
        try await withRunningTracker(registry: registry, accounting: accounting, PrivateModeTests.configure) { t in
            let service = AccountingService(
                accounting: accounting, sink: sink, tracker: t.privateTracker!, store: t.store, flushEvery: .seconds(3600),
                syncEvery: .seconds(3600), logger: TestLogs.logger(level: .trace))
            try await body(t, service, clock)
        }
    }

    /// Announces as the fixture's `user` (passkey `aaa...0N`) on torrent `torrent`.
    static func announce(
        _ t: RunningTracker, user: Int, torrent: UInt8, peer: [UInt8], uploaded: Int, downloaded: Int, left: Int,
        event: AnnounceEvent = .none, host: String = "127.0.0.1", port: Int = 51413
    ) throws -> BencodeValue {
        let target = announceTarget(
            hash: PrivateModeTests.hash(torrent), peer: peer, port: port, uploaded: uploaded, downloaded: downloaded, left: left,
            event: event
        )
        .replacingOccurrences(of: "/announce?", with: "/announce/\(PrivateModeTests.passkey(user))?")
        let r = try t.get(host, target, headers: [PrivateModeTests.agent])
        #expect(r.status == 200)
        return try BencodeValue.decode(r.body)
    }

    /// One row of `sql` as text columns.
    static func row(_ db: MariaDBServer, _ sql: String) throws -> [String] {
        let c = try MariaDBConnection(
            host: "127.0.0.1", port: db.port, socket: nil, user: MariaDBServer.user, password: MariaDBServer.password,
            database: MariaDBServer.database)
        let rows = try c.query(sql)
        return (rows.first ?? []).map { $0.map { String(decoding: $0, as: UTF8.self) } ?? "NULL" }
    }

    static let historyColumns =
        "uploaded, actual_uploaded, client_uploaded, downloaded, actual_downloaded, client_downloaded, seeder, active, seedtime, immune, "
        + "IFNULL(UNIX_TIMESTAMP(completed_at), 'NULL'), UNIX_TIMESTAMP(created_at), UNIX_TIMESTAMP(updated_at), agent"

    /// The contract's worked trace (§5.13): user 1 on torrent 7 (free 50), one peer, each
    /// announce flushed before the next; every row as the contract's table says.
    @Test func theContractsWorkedTraceLandsRowByRow() async throws {
        let db = try MariaDBServer()
        try db.loadUNIT3DFixture()
        let peer = PrivateModeTests.peerID("-qB5000-P")
        #expect(try Self.row(db, "SELECT seeders, leechers FROM torrents WHERE id = 1") == ["0", "0"])
        try await Self.withAccountingTracker(db) { t, service, clock in
            // The startup resync (contract §3 step 0): the fixture's active, visible peers rows.
            #expect(try Self.row(db, "SELECT seeders, leechers FROM torrents WHERE id = 1") == ["1", "1"])
            func step(_ dt: UInt32, _ up: Int, _ down: Int, _ left: Int, _ event: AnnounceEvent) async throws -> BencodeValue {
                clock.advance(dt)
                t.clock.advance(by: dt)
                let reply = try Self.announce(t, user: 1, torrent: 7, peer: peer, uploaded: up, downloaded: down, left: left, event: event)
                #expect(await service.flush())
                return reply
            }
            let t0 = Self.t0
            func history() throws -> [String] {
                try Self.row(db, "SELECT \(Self.historyColumns) FROM history WHERE user_id = 1 AND torrent_id = 7")
            }
            func torrent() throws -> [String] {
                try Self.row(db, "SELECT seeders, leechers, times_completed, balance FROM torrents WHERE id = 7")
            }
            func user() throws -> [String] { try Self.row(db, "SELECT uploaded, downloaded FROM users WHERE id = 1") }

            var r = try await step(0, 0, 0, 1_048_576, .started)
            #expect(r["complete"]?.intValue == 0 && r["incomplete"]?.intValue == 1 && r["downloaded"]?.intValue == 0)
            #expect(try history() == ["0", "0", "0", "0", "0", "0", "0", "1", "0", "0", "NULL", "\(t0)", "\(t0)", "qBittorrent/5.0.0"])
            #expect(try torrent() == ["0", "1", "0", "0"])
            #expect(try user() == ["0", "0"])

            r = try await step(1800, 100, 1_048_576, 0, .completed)
            #expect(r["complete"]?.intValue == 1 && r["incomplete"]?.intValue == 0)
            #expect(
                try history() == [
                    "100", "100", "100", "524288", "1048576", "1048576", "1", "1", "0", "0", "\(t0 + 1800)", "\(t0)", "\(t0 + 1800)",
                    "qBittorrent/5.0.0",
                ])
            #expect(try torrent() == ["1", "0", "1", "-1048476"])
            #expect(try user() == ["100", "524288"])
            // The site's torrent page shows the client's counters.
            let page = String(decoding: try t.admin("GET", "/announce/\(PrivateModeTests.apiKey)/torrents/7").body, as: UTF8.self)
            #expect(page.contains("\"uploaded\":100,\"downloaded\":1048576"), "\(page)")

            r = try await step(1800, 300, 1_048_576, 0, .none)
            #expect(r["complete"]?.intValue == 1 && r["incomplete"]?.intValue == 0)
            #expect(
                try history() == [
                    "300", "300", "300", "524288", "1048576", "1048576", "1", "1", "1800", "0", "\(t0 + 1800)", "\(t0)", "\(t0 + 3600)",
                    "qBittorrent/5.0.0",
                ])
            #expect(try torrent() == ["1", "0", "1", "-1048276"])
            #expect(try user() == ["300", "524288"])

            r = try await step(100, 310, 1_048_576, 0, .stopped)
            #expect(r["complete"]?.intValue == 0 && r["incomplete"]?.intValue == 0)
            #expect(
                try history() == [
                    "310", "310", "310", "524288", "1048576", "1048576", "1", "0", "1900", "0", "\(t0 + 1800)", "\(t0)", "\(t0 + 3700)",
                    "qBittorrent/5.0.0",
                ])
            #expect(try torrent() == ["0", "0", "1", "-1048266"])
            #expect(try user() == ["310", "524288"])
            #expect(
                try Self.row(
                    db,
                    "SELECT HEX(peer_id), HEX(ip), port, agent, uploaded, downloaded, `left`, seeder, connectable, active, visible, "
                        + "UNIX_TIMESTAMP(created_at), UNIX_TIMESTAMP(updated_at) FROM peers WHERE user_id = 1 AND torrent_id = 7")
                    == [
                        hex20(peer).uppercased(), "7F000001", "51413", "qBittorrent/5.0.0", "310", "1048576", "0", "1", "0", "0", "0",
                        "\(t0)", "\(t0 + 3700)",
                    ])
            #expect(try Self.row(db, "SELECT sequence FROM squall_accounting WHERE instance = 'test'") == ["4"])
        }
    }

    /// A user's credited and raw totals on torrent 1, and the user's row.
    static func totals(_ db: MariaDBServer, user: Int) throws -> [String] {
        try row(
            db,
            "SELECT h.uploaded, h.actual_uploaded, h.downloaded, h.actual_downloaded, u.uploaded, u.downloaded FROM history h "
                + "JOIN users u ON u.id = h.user_id WHERE h.user_id = \(user) AND h.torrent_id = 1")
    }

    /// A flush committed, then a crash before its journal segments were deleted: the next start
    /// replays nothing (the database's sequence covers them), and a replay that did (a sequence
    /// read from before the commit) is refused by the sequence written with the flush.
    @Test func aCommittedFlushIsNeverAppliedTwice() async throws {
        let db = try MariaDBServer()
        try db.loadUNIT3DFixture()
        let journal = Self.journalDirectory()
        defer { try? FileManager.default.removeItem(atPath: journal) }
        let peer = PrivateModeTests.peerID("-qB5000-D")
        let before = try Self.totals(db, user: 1)
        var kept: [(String, Data)] = []
        try await Self.withAccountingTracker(db, journal: journal) { t, service, clock in
            for (n, up) in [0, 1000, 3000].enumerated() {
                clock.advance(n == 0 ? 0 : 1800)
                t.clock.advance(by: n == 0 ? 0 : 1800)
                _ = try Self.announce(t, user: 1, torrent: 1, peer: peer, uploaded: up, downloaded: 2 * up, left: 1)
            }
            // What a crash between the commit and the deletion would leave behind.
            let names = try FileManager.default.contentsOfDirectory(atPath: journal)
            kept = try names.map { ($0, try Data(contentsOf: URL(fileURLWithPath: journal + "/" + $0))) }
            #expect(await service.flush())
        }
        let after = try Self.totals(db, user: 1)
        #expect(
            after.map { Int($0)! } == zip(before.map { Int($0)! }, [3000, 3000, 6000, 6000, 3000, 6000]).map { $0 + $1 },
            "\(before) then \(after)")
        #expect(
            kept.map { JournalRecord.decodeAll([UInt8]($0.1)).records.count }.reduce(0, +) == 3,
            "the journal held the entries before the flush")
        for (name, data) in kept { try data.write(to: URL(fileURLWithPath: journal + "/" + name)) }
        let url = try #require(DatabaseURL(db.url))
        let sink = UNIT3DSink(url: url, instance: "test", seedtimeGap: 9000)
        let committed = try await sink.prepare(since: 0, limit: 10).sequence
        #expect(committed == 3)
        let restarted = try Accounting(
            settings: Accounting.Settings(), directory: journal, committed: committed, baselines: [], logger: TestLogs.logger(level: .trace)
        )
        #expect(restarted.pending == 0, "entries the database's sequence covers are not replayed")
        let stale = try Accounting(
            settings: Accounting.Settings(), directory: journal, committed: 0, baselines: [], logger: TestLogs.logger(level: .trace))
        #expect(stale.pending > 0)
        #expect(await stale.flush(to: sink) { _ in [:] }, "a flush the database already holds succeeds")
        #expect(try Self.totals(db, user: 1) == after, "and applies nothing")
    }

    /// The database killed under load and back a while later: flushes fail, entries stay
    /// merged, and when it returns every byte lands once.
    @Test func aDatabaseOutageLosesNothing() async throws {
        let db = try MariaDBServer()
        try db.loadUNIT3DFixture()
        let before = try Self.totals(db, user: 1)
        let peers = (0..<3).map { PrivateModeTests.peerID("-qB5000-O\($0)") }
        try await Self.withAccountingTracker(db) { t, service, clock in
            var counters = [0, 0, 0]
            func round() throws {
                clock.advance(1800)
                t.clock.advance(by: 1800)
                for (i, peer) in peers.enumerated() {
                    _ = try Self.announce(t, user: 1, torrent: 1, peer: peer, uploaded: counters[i], downloaded: counters[i], left: 1)
                    counters[i] += 100 * (i + 1)
                }
            }
            try round()
            #expect(await service.flush())
            db.crash()
            for _ in 0..<5 {
                try round()
                #expect(await service.flush() == false, "the database is down")
            }
            let metrics = String(decoding: try t.get("127.0.0.1", "/metrics").body, as: UTF8.self)
            #expect(metrics.contains("squall_accounting_flushes_total{result=\"failed\"} 5"), "\(metrics.suffix(1500))")
            #expect(!metrics.contains("squall_accounting_flush_lag_seconds 0\n"), "the lag shows the outage")
            try db.restart()
            try round()
            #expect(await service.flush())
            #expect(service.accounting.pending == 0)
        }
        // Six rounds after the first: each peer credited its counters at the last round.
        let up = (1...3).map { 100 * $0 * 6 }.reduce(0, +)
        #expect(
            try Self.totals(db, user: 1).map { Int($0)! } == zip(before.map { Int($0)! }, [up, up, up, up, up, up]).map { $0 + $1 })
    }

    /// A long outage: every failed flush compacts the journal (the lowest threshold), so it
    /// stops growing with the announces; then the process is gone without a last flush (as after
    /// a SIGKILL) and a new one starts with the database back: the compact file's rows land,
    /// and its baselines credit the next announces from the right counters. Every byte once.
    @Test func aLongOutageCompactsTheJournalAndARestartReplaysIt() async throws {
        let db = try MariaDBServer()
        try db.loadUNIT3DFixture()
        let journal = Self.journalDirectory()
        defer { try? FileManager.default.removeItem(atPath: journal) }
        let before = try Self.totals(db, user: 1)
        let peers = (0..<3).map { PrivateModeTests.peerID("-qB5000-C\($0)") }
        var counters = [0, 0, 0]
        let clock = ManualUnixClock(Self.t0)
        func round(_ t: RunningTracker) throws {
            clock.advance(1800)
            t.clock.advance(by: 1800)
            for (i, peer) in peers.enumerated() {
                _ = try Self.announce(t, user: 1, torrent: 1, peer: peer, uploaded: counters[i], downloaded: counters[i], left: 1)
                counters[i] += 100 * (i + 1)
            }
        }
        var sizes: [Int] = []
        try await Self.withAccountingTracker(db, journal: journal, clock: clock, compactBytes: 1) { t, service, _ in
            try round(t)
            #expect(await service.flush())
            db.crash()
            for _ in 0..<24 {
                try round(t)
                #expect(await service.flush() == false, "the database is down")
                sizes.append(try t.metric("squall_accounting_journal_bytes"))
            }
            #expect(try t.metric("squall_accounting_journal_compactions_total{result=\"ok\"}") >= 8)
            #expect(try t.metric("squall_accounting_journal_compactions_total{result=\"failed\"}") == 0)
            let names = try FileManager.default.contentsOfDirectory(atPath: journal)
            #expect(names.filter { $0.hasPrefix("compact-") }.count == 1, "\(names)")
        }
        // Without compaction the journal would grow by one round's entries per round.
        #expect(sizes.suffix(12).max()! <= sizes.prefix(12).max()!, "\(sizes)")
        // 72 entries of at least 116 bytes each (an IPv4 entry without an agent).
        #expect(sizes.max()! < 72 * 116 / 2, "\(sizes)")
        try db.restart()
        try await Self.withAccountingTracker(db, journal: journal, clock: clock) { t, service, _ in
            #expect(service.accounting.pending > 0, "the compact file was replayed")
            try round(t)
            #expect(await service.flush())
            #expect(service.accounting.pending == 0)
        }
        // 26 rounds, the first crediting nothing: each peer's counters at the last round.
        let up = (1...3).map { 100 * $0 * 25 }.reduce(0, +)
        #expect(
            try Self.totals(db, user: 1).map { Int($0)! } == zip(before.map { Int($0)! }, [up, up, up, up, up, up]).map { $0 + $1 })
    }

    /// Peers that expire without a word leave the counts at the next recount.
    @Test func expiredPeersLeaveTheTorrentsCounts() async throws {
        let db = try MariaDBServer()
        try db.loadUNIT3DFixture()
        try await Self.withAccountingTracker(db) { t, service, clock in
            _ = try Self.announce(t, user: 1, torrent: 7, peer: PrivateModeTests.peerID("-qB5000-E"), uploaded: 0, downloaded: 0, left: 0)
            #expect(await service.flush())
            #expect(try Self.row(db, "SELECT seeders, leechers FROM torrents WHERE id = 7") == ["1", "0"])
            t.clock.advance(by: 100_000)
            _ = try await t.store.expire()
            clock.advance(Accounting.recountEvery)
            #expect(await service.flush())
            let r = try Self.row(db, "SELECT seeders, leechers FROM torrents WHERE id = 7")
            let scraped = try await t.store.scrape([InfoHash(PrivateModeTests.hash(7))!])
            #expect(r == ["0", "0"], "\(r) \(scraped)")
        }
    }

    /// A hybrid torrent's `seeders` and `leechers` count a peer that announces both hashes (one
    /// peer_id) once, by its latest announce, not once per hash.
    @Test func aHybridTorrentsPeersAreCountedOnce() async throws {
        try await withRunningTracker(PrivateModeTests.configure) { t in
            try PrivateModeTests.seed(t)
            let (v1, v2) = (PrivateModeTests.hash(0x31), PrivateModeTests.hash(0x32))
            try PrivateModeTests.put(
                t, "torrents",
                #"{"id":31,"status":1,"info_hash":"\#(hex20(v1))","info_hash_v2":"\#(hex20(v2))\#(String(repeating: "ab", count: 12))","is_deleted":false,"seeders":0,"leechers":0,"times_completed":0,"download_factor":100,"upload_factor":100}"#
            )
            // User 2 seeds under both hashes; user 1 leeches under both, then finishes under
            // the second only (its latest announce); user 3 leeches under the first only.
            for h in [UInt8(0x31), 0x32] { _ = try PrivateModeTests.announce(t, user: 2, torrent: h, peer: "-qB5000-seed", left: 0) }
            for h in [UInt8(0x31), 0x32] { _ = try PrivateModeTests.announce(t, user: 1, torrent: h) }
            t.clock.advance(by: 5)
            _ = try PrivateModeTests.announce(t, user: 1, torrent: 0x32, left: 0, event: .completed)
            _ = try PrivateModeTests.announce(t, user: 3, torrent: 0x31)
            let tracker = try #require(t.privateTracker)
            let counts = await AccountingService.counts(of: [31, 1], tracker: tracker, store: t.store)
            #expect(counts[31]?.seeders == 2 && counts[31]?.leechers == 1, "\(counts)")
            #expect(counts[1]?.seeders == 0 && counts[1]?.leechers == 0)
            // Past the listing limit the sum of both swarms stands.
            #expect(await AccountingService.distinctCounts([InfoHash(v1)!, InfoHash(v2)!], store: t.store, limit: 2) == nil)
        }
    }

    /// Two instances on one Redis, each with its own journal and flushes: a peer whose
    /// announces alternate between them is credited its true bytes once, and seedtime counts
    /// the true seeding time though the later instance flushes first.
    @Test func twoInstancesOnOneRedisCreditEachByteOnce() async throws {
        let db = try MariaDBServer()
        try db.loadUNIT3DFixture()
        let server = try RedisServer()
        let redis = RedisPeerStore(endpoint: server.endpoint, connections: 1, peerTTL: 1860, users: true)
        defer { redis.close() }
        let before = try Self.totals(db, user: 1)
        let seedtimeBefore = try Self.row(db, "SELECT seedtime FROM history WHERE user_id = 1 AND torrent_id = 1")
        let clock = ManualUnixClock(Self.t0)
        let peer = PrivateModeTests.peerID("-qB5000-M")
        let shared = { RedisAccountBaselines(store: redis, ttl: 1_814_400, instance: $0) }
        try await Self.withAccountingTracker(db, clock: clock, instance: "a", baselines: shared("a")) { a, flushA, _ in
            try await Self.withAccountingTracker(db, clock: clock, instance: "b", baselines: shared("b")) { b, flushB, _ in
                // Seeding throughout; the first announce (on a) sets the baseline.
                for (n, up) in [0, 100, 300, 600, 1000, 1500].enumerated() {
                    let t = n % 2 == 0 ? a : b
                    if n > 0 {
                        clock.advance(1800)
                        a.clock.advance(by: 1800)
                        b.clock.advance(by: 1800)
                    }
                    _ = try Self.announce(t, user: 1, torrent: 1, peer: peer, uploaded: up, downloaded: up / 2, left: 0)
                    if n == 1 || n == 2 {
                        #expect(await flushA.flush())
                        #expect(await flushB.flush())
                    }
                }
                // The site API's torrent view shows the client's counters from Redis's baselines.
                let page = String(decoding: try b.admin("GET", "/announce/\(PrivateModeTests.apiKey)/torrents/1").body, as: UTF8.self)
                #expect(page.contains("\"uploaded\":1500,\"downloaded\":750"), "\(page)")
                // b holds the last announce (t0 + 9000); it flushes before a (t0 + 7200).
                #expect(await flushB.flush())
                #expect(await flushA.flush())
            }
        }
        let after = try Self.totals(db, user: 1).map { Int($0)! }
        #expect(after == zip(before.map { Int($0)! }, [1500, 1500, 750, 750, 1500, 750]).map { $0 + $1 }, "\(after)")
        let seedtime = try Self.row(db, "SELECT seedtime FROM history WHERE user_id = 1 AND torrent_id = 1")
        #expect(Int(seedtime[0])! - Int(seedtimeBefore[0])! == 5 * 1800, "\(seedtimeBefore) then \(seedtime)")
        #expect(try Self.row(db, "SELECT COUNT(*) FROM squall_accounting") == ["2"])
    }

    /// A step whose reply was lost at run time: Redis, busy past the store's timeout, runs the
    /// script only after the tracker gave up on it and closed the connection. The step's
    /// outcome is looked up in Redis later and entered, so the bytes of that announce land once.
    @Test func aStepWhoseReplyWasLostIsLookedUpAndEntered() async throws {
        let db = try MariaDBServer()
        try db.loadUNIT3DFixture()
        let server = try RedisServer()
        let redis = RedisPeerStore(endpoint: server.endpoint, connections: 1, timeout: .milliseconds(300), peerTTL: 1860, users: true)
        defer { redis.close() }
        let before = try Self.totals(db, user: 1).map { Int($0)! }
        let clock = ManualUnixClock(Self.t0)
        let peer = PrivateModeTests.peerID("-qB5000-L")
        let baselines = RedisAccountBaselines(store: redis, ttl: 1_814_400, instance: "lost")
        try await Self.withAccountingTracker(db, clock: clock, instance: "lost", baselines: baselines) { t, service, _ in
            _ = try Self.announce(t, user: 1, torrent: 1, peer: peer, uploaded: 0, downloaded: 0, left: 0)
            clock.advance(1800)
            t.clock.advance(by: 1800)
            _ = try Self.announce(t, user: 1, torrent: 1, peer: peer, uploaded: 1000, downloaded: 10, left: 0)
            // Redis asleep for 2 s (the script runs after it wakes, though the tracker gave up and
            // closed the connection: what Redis read before the close it runs).
            try Self.keepBusy(server, milliseconds: 2000)
            clock.advance(1800)
            t.clock.advance(by: 1800)
            _ = try Self.announce(t, user: 1, torrent: 1, peer: peer, uploaded: 5000, downloaded: 50, left: 0)
            #expect(service.accounting.exposition().contains("squall_accounting_unanswered_steps 1\n"), "the step's reply was lost")
            // Once Redis is free the script runs (its baseline moves); 5 s after the announce, the
            // step is looked up.
            let deadline = Date().addingTimeInterval(10)
            while await baselines.baselines(torrent: 1, peers: [(1, PeerID(peer)!)]).first??.uploaded != 5000, Date() < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            clock.advance(10)
            // Each flush looks it up (one may find the store still reconnecting after the timeout).
            var m = ""
            let until = Date().addingTimeInterval(20)
            repeat {
                #expect(await service.flush())
                m = service.accounting.exposition()
                if m.contains("squall_accounting_unanswered_steps 0\n") { break }
                try await Task.sleep(for: .milliseconds(200))
            } while Date() < until
            #expect(
                m.contains("squall_accounting_unanswered_steps 0\n") && m.contains("squall_accounting_recovered_steps_total 1\n"), "\(m)")
            clock.advance(1800)
            t.clock.advance(by: 1800)
            _ = try Self.announce(t, user: 1, torrent: 1, peer: peer, uploaded: 9000, downloaded: 90, left: 0)
            #expect(await service.flush())
        }
        #expect(try Self.totals(db, user: 1).map { Int($0)! } == zip(before, [9000, 9000, 90, 90, 9000, 90]).map { $0 + $1 })
    }

    /// Keeps `server` busy for `milliseconds` (`DEBUG SLEEP`, from a connection of its own),
    /// returning once it is (another connection's PING goes unanswered). Blocking, without an
    /// await, so that what the caller does next runs inside the busy time however slowly the
    /// test scheduler runs.
    static func keepBusy(_ server: RedisServer, milliseconds: Int) throws {
        let busy = Thread {
            guard let c = try? BlockingRedisConnection(server.endpoint, timeout: .seconds(30)) else { return }
            _ = try? c.command("DEBUG", "SLEEP", "\(Double(milliseconds) / 1000)")
        }
        busy.start()
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            let probe = try BlockingRedisConnection(server.endpoint, timeout: .milliseconds(100))
            if (try? probe.command("PING")) == nil { return }
            usleep(2000)
        }
        Issue.record("Redis did not get busy")
    }

    /// Holds every client's writing commands, scripts among them (`CLIENT PAUSE ... WRITE`),
    /// until `unpause` on the connection it returns: a pause that lasts however long the test
    /// takes to act.
    static func pause(_ server: RedisServer) throws -> BlockingRedisConnection {
        let c = try BlockingRedisConnection(server.endpoint, timeout: .seconds(5))
        #expect(try c.command("CLIENT", "PAUSE", "60000", "WRITE") == .status("OK"))
        return c
    }

    static func unpause(_ c: BlockingRedisConnection) throws {
        #expect(try c.command("CLIENT", "UNPAUSE") == .status("OK"))
    }

    /// Steps whose answers were lost are held for a lookup up to `maxUnanswered`; past it they
    /// are counted as lost (their intents stay in the journal for the next start), so a Redis
    /// that fails every step cannot grow the set without bound.
    @Test func unansweredStepsAreHeldUpToTheirBound() async throws {
        let server = try RedisServer()
        let redis = RedisPeerStore(endpoint: server.endpoint, connections: 1, timeout: .milliseconds(300), peerTTL: 1860, users: true)
        defer { redis.close() }
        server.stop()
        let journal = Self.journalDirectory()
        defer { try? FileManager.default.removeItem(atPath: journal) }
        var settings = Accounting.Settings()
        settings.maxUnanswered = 3
        let accounting = try Accounting(
            settings: settings, directory: journal, committed: 0, baselines: [],
            store: RedisAccountBaselines(store: redis, ttl: 1_814_400, instance: "bound"), logger: TestLogs.logger(level: .trace),
            unixNow: { Self.t0 })
        for n in 0..<5 {
            let request = AnnounceRequest(
                infoHash: InfoHash(Array(repeating: 1, count: 20))!, peerID: PeerID(Bytes20(Array(repeating: UInt8(n), count: 20))!),
                port: 6881, uploaded: 100, left: 0)
            let failure: StoreError? = await withCheckedContinuation { c in
                accounting.record(
                    user: 1, torrent: 1, request: request, agent: nil,
                    endpoint: Endpoint(address: .v4(IPv4Address(127, 0, 0, 1)), port: 6881),
                    factors: Factors(upload: 100, download: 100, immune: false), visible: true
                ) { c.resume(returning: $0) }
            }
            #expect(failure != nil, "Redis is down")
        }
        let m = accounting.exposition()
        #expect(m.contains("squall_accounting_unanswered_steps 3\n") && m.contains("squall_accounting_lost_steps_total 2\n"), "\(m)")
    }

    /// A flush while a Redis step is in flight: the segments it commits are deleted, and the
    /// step's intent goes on in the new segment, so a crash then would still find it.
    @Test func anIntentInFlightAcrossAFlushStaysInTheJournal() async throws {
        let db = try MariaDBServer()
        try db.loadUNIT3DFixture()
        let server = try RedisServer()
        let redis = RedisPeerStore(endpoint: server.endpoint, connections: 1, timeout: .seconds(10), peerTTL: 1860, users: true)
        defer { redis.close() }
        let journal = Self.journalDirectory()
        defer { try? FileManager.default.removeItem(atPath: journal) }
        let before = try Self.totals(db, user: 1).map { Int($0)! }
        let clock = ManualUnixClock(Self.t0)
        let peer = PrivateModeTests.peerID("-qB5000-F")
        let baselines = RedisAccountBaselines(store: redis, ttl: 1_814_400, instance: "flight")
        func items() throws -> [JournalRecord.Item] {
            try FileManager.default.contentsOfDirectory(atPath: journal).sorted().filter { $0.hasPrefix("segment-") }.flatMap { name in
                JournalRecord.decodeItems([UInt8](try Data(contentsOf: URL(fileURLWithPath: journal + "/" + name)))).items
            }
        }
        try await Self.withAccountingTracker(db, journal: journal, clock: clock, instance: "flight", baselines: baselines) {
            t, service, _ in
            _ = try Self.announce(t, user: 1, torrent: 1, peer: peer, uploaded: 0, downloaded: 0, left: 0)
            let paused = try Self.pause(server)
            clock.advance(1800)
            t.clock.advance(by: 1800)
            // The announce waits for its step (on another thread: Redis answers in a second).
            let target = announceTarget(
                hash: PrivateModeTests.hash(1), peer: peer, port: 51413, uploaded: 1000, downloaded: 10, left: 0, event: .none
            ).replacingOccurrences(of: "/announce?", with: "/announce/\(PrivateModeTests.passkey(1))?")
            let port = t.port
            let status = Locked<Int?>(nil)
            let announcer = Thread {
                let r = try? TestClient.get("127.0.0.1", port, target, headers: [PrivateModeTests.agent])
                status.withLock { $0 = r?.status ?? -1 }
            }
            announcer.start()
            // Until its intent is journalled (its step then waits in Redis).
            func waiting() throws -> Bool {
                try items().contains { if case .intent(let i) = $0 { i.uploaded == 1000 } else { false } }
            }
            while try !waiting() { try await Task.sleep(for: .milliseconds(10)) }
            #expect(await service.flush(), "the first announce's entry, committed while the second's step waits")
            let held = try items()
            let intents = held.compactMap { item -> AccountIntent? in
                guard case .intent(let i) = item, i.uploaded == 1000 else { return nil }
                return i
            }
            #expect(intents.count == 1, "the in-flight intent, once, in the new segment: \(held)")
            #expect(!held.contains { if case .entry = $0 { true } else { false } }, "the committed entry's segment is gone")
            try Self.unpause(paused)
            while status.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(20)) }
            #expect(status.withLock { $0 } == 200)
            let answered = try items().contains { item in
                if case .entry(_, _, let token) = item { token == intents.first?.token } else { false }
            }
            #expect(answered, "its entry follows it, with its token")
            #expect(await service.flush())
        }
        #expect(try Self.totals(db, user: 1).map { Int($0)! } == zip(before, [1000, 1000, 10, 10, 1000, 10]).map { $0 + $1 })
    }

    /// With Redis's baselines, a step Redis took whose entry the process never wrote (it died
    /// between the two, as a SIGKILL may land; or the reply was lost): the next start finds the
    /// journalled intent, looks its outcome up in Redis and enters it. A step Redis never took
    /// credits nothing, and the peer's next announce credits its bytes. Each byte lands once,
    /// and a further start enters nothing again.
    @Test func aStepRedisTookBeforeACrashIsEnteredAtTheNextStart() async throws {
        let db = try MariaDBServer()
        try db.loadUNIT3DFixture()
        let server = try RedisServer()
        let redis = RedisPeerStore(endpoint: server.endpoint, connections: 1, peerTTL: 1860, users: true)
        defer { redis.close() }
        let journal = Self.journalDirectory()
        defer { try? FileManager.default.removeItem(atPath: journal) }
        let before = try Self.totals(db, user: 1).map { Int($0)! }
        let clock = ManualUnixClock(Self.t0)
        let peer = PrivateModeTests.peerID("-qB5000-C")
        let baselines = RedisAccountBaselines(store: redis, ttl: 1_814_400, instance: "crash")
        var config = SquallConfig()
        PrivateModeTests.configure(&config)
        let settings = config.accountingRuntime
        // A first life: the peer's first announce (its baseline), then 1000 up (not flushed).
        try await Self.withAccountingTracker(db, journal: journal, clock: clock, instance: "crash", baselines: baselines) { t, _, _ in
            _ = try Self.announce(t, user: 1, torrent: 1, peer: peer, uploaded: 0, downloaded: 0, left: 0)
            clock.advance(1800)
            t.clock.advance(by: 1800)
            _ = try Self.announce(t, user: 1, torrent: 1, peer: peer, uploaded: 1000, downloaded: 10, left: 0)
        }
        // Its last moments: the announce of 5000 up journalled as an intent and stepped in Redis,
        // and the next (9000 up) journalled but never sent; then it died before either entry.
        clock.advance(1800)
        let taken = AccountIntent(
            token: 42, user: 1, torrent: 1, peerID: PeerID(peer)!, at: clock.now, agent: Array("qBittorrent/5.0.0".utf8),
            ip: [127, 0, 0, 1], port: 51413, uploaded: 5000, downloaded: 50, left: 0, event: .none,
            factors: Factors(upload: 100, download: 100, immune: false), visible: true)
        var unsent = taken
        (unsent.token, unsent.uploaded, unsent.downloaded) = (43, 9000, 90)
        do {
            var replay = AccountingJournal.Replay()
            var j = try AccountingJournal(journal, firstSequence: 1, maxPeerRows: .max, replay: &replay)
            #expect(replay.entries.count == 2 && replay.intents.isEmpty, "the first life's steps were all answered")
            #expect(j.append(taken, sequence: 3) && j.append(unsent, sequence: 3))
        }
        let step: Result<TorrentAccount.Step?, StoreError> = await withCheckedContinuation { c in
            baselines.step(
                UserTorrent(user: 1, torrent: 1), peerID: PeerID(peer)!, uploaded: 5000, downloaded: 50, left: 0, event: .none,
                now: taken.at, window: settings.dedupWindow, activeTTL: settings.activeTTL, maxPeers: settings.peersPerAccount,
                ticket: StepTicket(token: 42, low: 42)
            ) { c.resume(returning: $0) }
        }
        #expect(try step.get()?.outcome.uploaded == 4000)
        // The next start: the lost answers are looked up 5 s after their announces.
        try await Self.withAccountingTracker(db, journal: journal, clock: clock, instance: "crash", baselines: baselines) { t, service, _ in
            #expect(await service.flush())
            #expect(service.accounting.exposition().contains("squall_accounting_unanswered_steps 2\n"), "too early to look up")
            clock.advance(10)
            // Redis failing the lookups (its ACL refusing HGET for now): they wait.
            let admin = try BlockingRedisConnection(server.endpoint, timeout: .seconds(5))
            #expect(try admin.command("ACL", "SETUSER", "default", "-hget") == .status("OK"))
            #expect(await service.flush())
            #expect(service.accounting.exposition().contains("squall_accounting_unanswered_steps 2\n"), "kept while Redis fails")
            #expect(try admin.command("ACL", "SETUSER", "default", "+hget") == .status("OK"))
            #expect(await service.flush())
            let m = service.accounting.exposition()
            #expect(
                m.contains("squall_accounting_unanswered_steps 0\n") && m.contains("squall_accounting_recovered_steps_total 1\n"), "\(m)")
            // The client's next announce (the one never sent, again) credits the rest.
            clock.advance(1800)
            t.clock.advance(by: 3600)
            _ = try Self.announce(t, user: 1, torrent: 1, peer: peer, uploaded: 9000, downloaded: 90, left: 0)
            #expect(await service.flush())
        }
        let expected = zip(before, [9000, 9000, 90, 90, 9000, 90]).map { $0 + $1 }
        #expect(try Self.totals(db, user: 1).map { Int($0)! } == expected)
        // A further start holds nothing unanswered and enters nothing again.
        try await Self.withAccountingTracker(db, journal: journal, clock: clock, instance: "crash", baselines: baselines) { _, service, _ in
            clock.advance(10)
            #expect(await service.flush())
            #expect(service.accounting.exposition().contains("squall_accounting_unanswered_steps 0\n"))
        }
        #expect(try Self.totals(db, user: 1).map { Int($0)! } == expected)
    }
}

/// The writer against the fixture: sums saturate at the column's range instead of failing the
/// flush, and rows naming a user or torrent that no longer exists are dropped, not fatal.
@Suite struct UNIT3DWriterTests {
    @Test func hugeCountersSaturateAndMissingRowsAreDropped() throws {
        let db = try MariaDBServer()
        try db.loadUNIT3DFixture()
        try db.sql(
            "UPDATE history SET uploaded = 18446744073709551610 WHERE user_id = 1 AND torrent_id = 1; "
                + "UPDATE users SET uploaded = 18446744073709551610 WHERE id = 1")
        let c = try MariaDBConnection(
            host: "127.0.0.1", port: db.port, socket: nil, user: MariaDBServer.user, password: MariaDBServer.password,
            database: MariaDBServer.database)
        let writer = UNIT3DWriter(instance: "w")
        _ = try writer.prepare(c)
        let peer = PeerID(Bytes20(Array(repeating: 7, count: 20))!)
        var ledger = Ledger()
        ledger.add(AccountEntry(user: 1, torrent: 1, peerID: peer, at: AccountingTests.t0, actualUploaded: 100, uploaded: 100))
        ledger.add(AccountEntry(user: 999, torrent: 1, peerID: peer, at: AccountingTests.t0, uploaded: 5))
        ledger.add(AccountEntry(user: 1, torrent: 4242, peerID: peer, at: AccountingTests.t0, uploaded: 5))
        let report = try writer.write(ledger.takeAll(sequence: 1), to: c)
        #expect(report.dropped == 4, "history and peers rows of user 999 and torrent 4242")
        #expect(
            try AccountingTests.row(db, "SELECT uploaded FROM history WHERE user_id = 1 AND torrent_id = 1") == ["18446744073709551615"])
        #expect(try AccountingTests.row(db, "SELECT uploaded FROM users WHERE id = 1") == ["18446744073709551615"])
        #expect(try AccountingTests.row(db, "SELECT COUNT(*) FROM users WHERE id = 999") == ["0"], "no placeholder row")
    }

    /// A flush that loses a deadlock to another transaction on the same rows (two instances
    /// flushing at once) is rolled back whole, tried again, and lands once.
    @Test func aFlushThatLosesADeadlockIsTriedAgainAndLandsOnce() throws {
        let db = try MariaDBServer()
        try db.loadUNIT3DFixture()
        // To watch the lock wait (the process list) and the deadlock (InnoDB's status).
        try db.sql("GRANT PROCESS ON *.* TO '\(MariaDBServer.user)'@'localhost'", database: nil)
        func connect() throws -> MariaDBConnection {
            try MariaDBConnection(
                host: "127.0.0.1", port: db.port, socket: nil, user: MariaDBServer.user, password: MariaDBServer.password,
                database: MariaDBServer.database)
        }
        nonisolated(unsafe) let writerDB = try connect()
        let writer = UNIT3DWriter(instance: "w")
        _ = try writer.prepare(writerDB)
        // The instance's sequence row exists (it has flushed before), so the flush locks it.
        try db.sql("INSERT INTO squall_accounting (instance, sequence) VALUES ('w', 0)")
        let before = try AccountingTests.row(
            db, "SELECT u.uploaded, h.uploaded FROM users u JOIN history h ON h.user_id = u.id WHERE u.id = 1 AND h.torrent_id = 1"
        ).map { Int($0)! }
        // The other transaction holds user 1's row, having changed every users row (the
        // heavier of the two, so InnoDB picks the flush as the deadlock's victim).
        let other = try connect()
        _ = try other.query("START TRANSACTION")
        _ = try other.query("UPDATE users SET uploaded = uploaded + 1")
        var ledger = Ledger()
        ledger.add(
            AccountEntry(
                user: 1, torrent: 1, peerID: PeerID(Bytes20(Array(repeating: 9, count: 20))!), at: AccountingTests.t0, actualUploaded: 100,
                uploaded: 100))
        let batch = ledger.takeAll(sequence: 1)
        let outcome = Locked<String?>(nil)
        let flush = Thread {
            do {
                _ = try writer.write(batch, to: writerDB)
                outcome.withLock { $0 = "ok" }
            } catch {
                outcome.withLock { $0 = "\(error)" }
            }
        }
        flush.start()
        // The flush holds its sequence row and waits for user 1's (the history row's foreign key).
        let deadline = Date().addingTimeInterval(20)
        let waiting = "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'INSERT INTO history%'"
        while try AccountingTests.row(db, waiting) != ["1"], Date() < deadline { usleep(10_000) }
        // The other now asks for the flush's sequence row: a deadlock, which the flush loses.
        do {
            _ = try other.query("SELECT sequence FROM squall_accounting WHERE instance = 'w' FOR UPDATE")
        } catch {
            Issue.record("the other transaction lost the deadlock instead: \(error)")
        }
        _ = try other.query("ROLLBACK")
        while outcome.withLock({ $0 }) == nil, Date() < deadline { usleep(10_000) }
        #expect(outcome.withLock { $0 } == "ok")
        let status = try AccountingTests.row(db, "SHOW ENGINE INNODB STATUS").joined()
        #expect(status.contains("LATEST DETECTED DEADLOCK"), "a deadlock happened")
        let after = try AccountingTests.row(
            db, "SELECT u.uploaded, h.uploaded FROM users u JOIN history h ON h.user_id = u.id WHERE u.id = 1 AND h.torrent_id = 1"
        ).map { Int($0)! }
        #expect(after == before.map { $0 + 100 }, "credited once")
        #expect(try AccountingTests.row(db, "SELECT sequence FROM squall_accounting WHERE instance = 'w'") == ["1"])
    }

    static func show(_ row: MariaDBConnection.Row) -> String {
        row.map { $0.map { String(decoding: $0, as: UTF8.self) } ?? "NULL" }.joined(separator: "|")
    }

    /// The bulk path (array binding) and the text path (MySQL's) leave every column of every
    /// table the same, over generated flushes: new rows and updates, out-of-order times, NULL
    /// and set completion times, binary peer_ids and addresses of both families, UTF-8 agents,
    /// times on leap days and at TIMESTAMP's last second.
    @Test func bulkAndTextStatementsWriteTheSameRows() throws {
        var rng = SplitMix64(seed: 14)
        let times: [UInt32] = [951_782_400, 1_709_164_799, 1_709_164_800, 2_147_483_647, 1_000_000_000, 1_764_770_000]
        let agents = ["qBittorrent/4.6.2", "Transmission/4.0.5 ✓", "", "libtorrent/2.0.8 ünïcode"]
        let peers = (0..<4).map { i in
            PeerID(Bytes20((0..<20).map { j in UInt8(truncatingIfNeeded: i * 77 + j * 31 + (j == 0 ? 0 : 128)) })!)
        }
        var batches: [FlushBatch] = []
        for sequence in 1...4 {
            var ledger = Ledger()
            for _ in 0..<60 {
                let completed = rng.next() % 5 == 0
                ledger.add(
                    AccountEntry(
                        user: UInt32(1 + rng.next() % 6), torrent: UInt32(1 + rng.next() % 6), peerID: peers[Int(rng.next() % 4)],
                        at: rng.next() % 3 == 0 ? times[Int(rng.next() % 6)] : 1_700_000_000 + UInt32(rng.next() % 400_000),
                        agent: agents[Int(rng.next() % 4)],
                        ip: rng.next() % 2 == 0 ? [10, 0, 0, UInt8(rng.next() % 256)] : (0..<16).map { _ in UInt8(rng.next() % 256) },
                        port: UInt16(rng.next() % 65_536), clientUploaded: rng.next() % 1_000_000, clientDownloaded: rng.next() % 1_000_000,
                        left: rng.next() % 2 == 0 ? 0 : rng.next() % 10_000, actualUploaded: rng.next() % 5000,
                        actualDownloaded: rng.next() % 5000, uploaded: rng.next() % 5000, downloaded: rng.next() % 5000,
                        active: rng.next() % 4 != 0, peerActive: rng.next() % 4 != 0, visible: rng.next() % 5 != 0,
                        immune: rng.next() % 3 == 0, completedEvent: completed, completion: completed))
            }
            batches.append(ledger.takeAll(sequence: UInt64(sequence)))
        }
        var dumps: [[[MariaDBConnection.Row]]] = []
        for bulk in [true, false] {
            let db = try MariaDBServer()
            try db.loadUNIT3DFixture()
            let c = try MariaDBConnection(
                host: "127.0.0.1", port: db.port, socket: nil, user: MariaDBServer.user, password: MariaDBServer.password,
                database: MariaDBServer.database)
            #expect(c.supportsBulk, "MariaDB 10.11 runs array-bound statements in one round trip")
            var writer = UNIT3DWriter(instance: "w")
            writer.bulk = bulk
            _ = try writer.prepare(c)
            for batch in batches { _ = try writer.write(batch, to: c) }
            dumps.append(
                try [
                    "SELECT * FROM history ORDER BY user_id, torrent_id", "SELECT * FROM peers ORDER BY user_id, torrent_id, peer_id",
                    "SELECT id, uploaded, downloaded FROM users ORDER BY id",
                    "SELECT id, seeders, leechers, times_completed, balance FROM torrents ORDER BY id",
                ].map { try c.query($0) })
        }
        #expect(dumps[0][0].count > 20 && dumps[0][1].count > 40, "the flushes wrote rows")
        #expect(dumps[0][1].contains { $0[1]?.count == 16 } && dumps[0][1].contains { $0[1]?.count == 4 }, "both families")
        for (table, (bulkRows, textRows)) in zip(["history", "peers", "users", "torrents"], zip(dumps[0], dumps[1])) {
            // Compared row by row, so that a failure names one row rather than printing the tables.
            #expect(bulkRows.count == textRows.count, "\(table): as many rows")
            let differing = zip(bulkRows, textRows).enumerated().first { $0.element.0 != $0.element.1 }
            #expect(
                differing == nil,
                "\(table) row \(differing?.offset ?? -1): bulk \(differing.map { Self.show($0.element.0) } ?? "") text \(differing.map { Self.show($0.element.1) } ?? "")"
            )
        }
    }
}

/// Real clients credited into UNIT3D's tables: aria2, Transmission or libtorrent seeds;
/// libtorrent (over IPv4 and IPv6 with one peer_id), aria2 or Transmission (which its seeder
/// must dial: Transmission dials no loopback peer a tracker names) leeches, through Squall over
/// HTTPS; after the flush the site's rows hold exactly what each client reported, once, though
/// each of libtorrent's announces came twice.
@Suite(.serialized) struct AccountingInteropTests {
    @Test(arguments: ["aria2>libtorrent", "transmission>libtorrent", "transmission>aria2", "libtorrent>transmission"])
    func realClientsAreCreditedOnceIntoUnit3dsTables(clients: String) async throws {
        let (seederClient, leecherClient) = (clients.split(separator: ">")[0], clients.split(separator: ">")[1])
        let db = try MariaDBServer()
        try db.loadUNIT3DFixture()
        let url = try #require(DatabaseURL(db.url))
        let journal = AccountingTests.journalDirectory()
        defer { try? FileManager.default.removeItem(atPath: journal) }
        let sink = UNIT3DSink(url: url, instance: "interop", seedtimeGap: 9000)
        let prepared = try await sink.prepare(since: 0, limit: 10)
        var config = SquallConfig()
        config.privateMode.enabled = true
        let accounting = try Accounting(
            settings: config.accountingRuntime, directory: journal, committed: prepared.sequence, baselines: [],
            logger: TestLogs.logger(level: .trace))
        let before = try AccountingTests.row(db, "SELECT uploaded, downloaded FROM users WHERE id = 2").map { Int($0)! }
        let seederBefore = try AccountingTests.row(db, "SELECT actual_uploaded FROM history WHERE user_id = 1 AND torrent_id = 1")
        let f = try TLSFixtures()
        defer { f.cleanup() }
        try await withRunningTracker(tls: try ReloadableTLSContexts(pairs: [(f.cert, f.key)]), accounting: accounting) { c in
            c.privateMode.enabled = true
            c.admin.key = InteropTests.adminKey
            c.admin.listen = [ListenAddress(host: "127.0.0.1", port: 0)]
            (c.announce.interval, c.announce.minInterval) = (3, 3)
            // UNIT3D's 1740 s would list no peer to a seeder's re-announce every 3 s (a seeder
            // that must dial its leecher, libtorrent to Transmission, needs that list).
            c.privateMode.minIntervalEnforced = 2
        } _: { t in
            let w = try InteropTests.Workspace()
            defer { w.cleanup() }
            let tls = try #require(t.tlsPort)
            try InteropTests.seedSite(t)
            let seedTorrent = try w.torrent("seed.torrent", announce: ["https://127.0.0.1:\(tls)/announce/\(InteropTests.passkey(1))"])
            let leechTorrent = try w.torrent(
                "leech.torrent", announce: ["127.0.0.1", "[::1]"].map { "https://\($0):\(tls)/announce/\(InteropTests.passkey(2))" })
            let hash = try InteropTests.infoHash(seedTorrent)
            // Torrent 1 of the fixture is this torrent (the rows are keyed by id).
            try db.sql("UPDATE torrents SET info_hash = UNHEX('\(hash)') WHERE id = 1")
            try InteropTests.register(t, hash: hash)
            let service = AccountingService(
                accounting: accounting, sink: sink, tracker: t.privateTracker!, store: t.store, flushEvery: .seconds(3600),
                syncEvery: .seconds(3600), logger: TestLogs.logger(level: .trace))
            // The tracker's clock follows the wall clock, so a seeder's re-announces are
            // seconds apart (a stopped clock makes each one too soon to list any peer).
            let ticker = Task { [clock = t.clock] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    clock.advance(by: 1)
                }
            }
            defer { ticker.cancel() }
            let seeder: Process
            if seederClient == "libtorrent" {
                seeder = try InteropTests.libtorrent(w, seedTorrent, f.ca, log: "libtorrent-seed.log", seed: true)
            } else if seederClient == "aria2" {
                seeder = try InteropTests.start(
                    "/usr/bin/aria2c",
                    ["--ca-certificate=\(f.ca)"]
                        + InteropTests.aria2(dir: w.seedDir, torrent: seedTorrent, port: try FreePort.next(), seed: true))
            } else {
                let settings =
                    #"{"dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false, "port-forwarding-enabled": false, "peer-port": \#(try FreePort.next())}"#
                try settings.write(to: w.dir.appendingPathComponent("transmission/settings.json"), atomically: true, encoding: .utf8)
                seeder = try InteropTests.start(
                    "/usr/bin/transmission-cli",
                    ["-g", w.dir.appendingPathComponent("transmission").path, "-w", w.seedDir.path, seedTorrent],
                    environment: ["CURL_CA_BUNDLE": f.ca])
            }
            defer { InteropTests.stop(seeder) }
            try await InteropTests.waitForSeeder(t)
            let leecher =
                switch leecherClient {
                case "libtorrent": try InteropTests.libtorrent(w, leechTorrent, f.ca)
                case "transmission": try InteropTests.transmissionLeecher(w, leechTorrent, f.ca)
                default: try InteropTests.aria2Leecher(w, leechTorrent, f.ca)
                }
            defer { InteropTests.stop(leecher) }
            let size = try Data(contentsOf: w.payload).count
            // Until the leecher's completed announce is committed (bounded).
            let deadline = Date().addingTimeInterval(90)
            var history: [String] = []
            while Date() < deadline {
                #expect(await service.flush())
                history = try AccountingTests.row(
                    db,
                    "SELECT actual_downloaded, downloaded, client_downloaded, seeder, IFNULL(UNIX_TIMESTAMP(completed_at), 0) > 0 "
                        + "FROM history WHERE user_id = 2 AND torrent_id = 1")
                if history.count == 5, Int(history[2])! >= size, history[3] == "1" { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(
                history.count == 5 && Int(history[2]).map { $0 >= size } == true, "the leecher's completion reached the site: \(history)")
            // Its first announce reported 0: every byte it reported was credited, once (a
            // second count of libtorrent's dual-stack pairs would exceed what it reported).
            #expect(history.count == 5 && history[0] == history[2] && history[1] == history[2], "\(history)")
            #expect(history.count == 5 && history[3] == "1", "seeding: \(history)")
            // completed_at comes from event=completed (UNIT3D's rule): libtorrent always sends it;
            // aria2 with --seed-time=0 sometimes sends only `stopped` with left=0 as it exits.
            // times_completed (the leecher-to-seeder step) counts it either way, below.
            #expect(history.count == 5 && (history[4] == "1" || leecherClient == "aria2"), "completed_at: \(history)")
            let after = try AccountingTests.row(db, "SELECT uploaded, downloaded FROM users WHERE id = 2").map { Int($0)! }
            #expect(history.count == 5 && after[1] - before[1] == Int(history[1])!, "users.downloaded grew by the same")
            let peers = try AccountingTests.row(
                db, "SELECT COUNT(*), MAX(`left`), MIN(LENGTH(ip)) FROM peers WHERE user_id = 2 AND torrent_id = 1")
            #expect(peers[0] == "1" && peers[1] == "0", "one peers row for both families, finished: \(peers)")
            #expect(try AccountingTests.row(db, "SELECT times_completed FROM torrents WHERE id = 1") == ["1"])
            // The seeder (announcing every 3 s here) reports what it uploaded: its row holds that,
            // credited once above the fixture's row (its first announce reported 0).
            let seeded = Date().addingTimeInterval(60)
            var seeding: [Int] = []
            while Date() < seeded {
                #expect(await service.flush())
                seeding = try AccountingTests.row(
                    db, "SELECT actual_uploaded, uploaded, client_uploaded FROM history WHERE user_id = 1 AND torrent_id = 1"
                ).map { Int($0)! }
                if seeding[2] >= size { break }
                try await Task.sleep(for: .milliseconds(500))
            }
            let base = Int(seederBefore[0])!
            #expect(seeding.count == 3 && seeding[2] >= size, "the seeder reported its upload: \(seeding)")
            #expect(seeding.count == 3 && seeding[0] - base == seeding[2] && seeding[1] - base == seeding[2], "\(seeding), before \(base)")
        }
    }
}

/// The journal's compaction on real files: a crash at each point of it leaves a directory the
/// next start reads as every entry once.
@Suite struct JournalCompactionTests {
    /// Keeps each flush it is given (a pure test of the journal: no database here).
    final class RecordingSink: AccountingSink {
        let batches = Locked<[FlushBatch]>([])
        func prepare(since: UInt32, limit: Int) async throws -> (sequence: UInt64, baselines: [RestoredBaseline]) { (0, []) }
        func write(_ batch: FlushBatch) async throws -> Int {
            batches.withLock { $0.append(batch) }
            return 0
        }
    }

    static func entries(_ range: ClosedRange<UInt32>) -> [AccountEntry] {
        range.map { n in
            AccountEntry(
                user: 1 + n % 3, torrent: 1 + n % 2, peerID: PeerID(Bytes20(Array(repeating: UInt8(n % 4), count: 20))!),
                at: AccountingTests.t0 + n * 60, agent: "qBittorrent/5.0.0", clientUploaded: UInt64(n) * 1000, left: UInt64(n % 2),
                actualUploaded: 1000, uploaded: 1000 + UInt64(n), completion: n == 7)
        }
    }

    static func append(_ journal: inout AccountingJournal, _ entries: [AccountEntry], from first: UInt64) {
        for (i, e) in entries.enumerated() {
            let written = journal.append(e, sequence: first + UInt64(i))
            #expect(written)
        }
    }

    /// What a start on `directory` (the sink committed `committed`) flushes.
    static func restart(_ directory: String, committed: UInt64 = 0) async throws -> FlushBatch? {
        let accounting = try Accounting(
            settings: Accounting.Settings(), directory: directory, committed: committed, baselines: [],
            logger: TestLogs.logger(level: .trace))
        let sink = RecordingSink()
        #expect(await accounting.flush(to: sink) { _ in [:] })
        return sink.batches.withLock { $0.first }
    }

    /// What a ledger of `entries`, in order, flushes.
    static func reference(_ entries: [AccountEntry], sequence: UInt64) -> FlushBatch {
        var ledger = Ledger()
        for e in entries { ledger.add(e) }
        return ledger.takeAll(sequence: sequence)
    }

    /// The sequences of segment `first`'s whole records in `directory`.
    static func sequences(_ directory: String, segment first: UInt64) throws -> [UInt64] {
        let file = AccountingJournal.segmentName(directory, first)
        return JournalRecord.decodeAll(Array(try Data(contentsOf: URL(fileURLWithPath: file)))).records.map(\.sequence)
    }

    static func same(_ a: FlushBatch?, _ b: FlushBatch?) -> Bool {
        a?.history == b?.history && a?.peers == b?.peers && a?.torrents == b?.torrents && a?.users == b?.users
            && a?.sequence == b?.sequence
    }

    @Test func aCrashInsideACompactionReplaysEachEntryOnce() async throws {
        let all = Self.entries(1...30)
        var reference = Ledger()
        for e in all { reference.add(e) }
        let expected = reference.takeAll(sequence: 30)

        let root = AccountingTests.journalDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dir = root + "/journal"
        func copy(_ dir: String) -> String {
            let to = root + "/copy-" + UUID().uuidString.prefix(8)
            try? FileManager.default.copyItem(atPath: dir, toPath: to)
            return to
        }
        var replay = AccountingJournal.Replay()
        var journal = try AccountingJournal(dir, firstSequence: 1, maxPeerRows: .max, replay: &replay)
        Self.append(&journal, Array(all[0..<10]), from: 1)
        var files = journal.rotate(nextSequence: 11)
        let first = try AccountingJournal.compact(files, compact: journal.compactPath, directory: dir, maxPeerRows: .max)
        journal.compacted(files, into: first.path, bytes: first.bytes)
        let (closed, entryBytes) = (journal.closed, journal.closedEntryBytes)
        #expect(closed == [first.path] && entryBytes == 0)
        Self.append(&journal, Array(all[10..<20]), from: 11)
        files = journal.rotate(nextSequence: 21)
        // Entries past the second compaction sit in the open segment.
        Self.append(&journal, Array(all[20..<30]), from: 21)
        let names = { try FileManager.default.contentsOfDirectory(atPath: dir).sorted() }
        let stages = try names()
        #expect(stages.filter { $0.hasPrefix("compact-") }.count == 1 && stages.filter { $0.hasPrefix("segment-") }.count == 2)
        #expect(Self.same(try await Self.restart(copy(dir)), expected), "one compact file and the segments after it")

        // The second compaction crashes after writing aside: the .tmp is dropped at start.
        let aside = dir + "/compact-" + String(repeating: "0", count: 15) + "f.tmp"
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: aside))
        #expect(Self.same(try await Self.restart(copy(dir)), expected), "a partial compaction written aside is ignored")
        try FileManager.default.removeItem(atPath: aside)

        // It crashes after the rename, before deleting what it folded: the newest compact file
        // wins and the older one and the folded segment's entries are not replayed again.
        let second = try AccountingJournal.compact(files, compact: journal.compactPath, directory: dir, maxPeerRows: .max)
        #expect(second.path != first.path && second.fold.last == 20)
        #expect(try names().filter { $0.hasPrefix("compact-") }.count == 2)
        let crashed = copy(dir)
        #expect(Self.same(try await Self.restart(crashed), expected), "two compact files and the segments they fold")
        let left = try FileManager.default.contentsOfDirectory(atPath: crashed)
        #expect(
            left.allSatisfy { $0.hasPrefix("segment-") && (FileManager.default.contents(atPath: crashed + "/" + $0)?.isEmpty ?? false) },
            "all of it deleted after the commit but the new empty segment: \(left)")

        // It completes: one compact file and the open segment.
        journal.compacted(files, into: second.path, bytes: second.bytes)
        #expect(try names().filter { $0.hasPrefix("compact-") } == [URL(fileURLWithPath: second.path).lastPathComponent])
        #expect(Self.same(try await Self.restart(copy(dir)), expected))

        // A sink that committed part of what a compact file folds cannot be reconciled: refused.
        #expect(throws: AccountingJournal.Failure.self) {
            try Accounting(
                settings: Accounting.Settings(), directory: copy(dir), committed: 5, baselines: [], logger: TestLogs.logger(level: .trace))
        }
        // One that committed all of it replays only what came after.
        let later = try await Self.restart(copy(dir), committed: 20)
        var tail = Ledger()
        for e in all[20...] { tail.add(e) }
        #expect(Self.same(later, tail.takeAll(sequence: 30)))

        // A damaged compact file stops the start with its name.
        let damaged = copy(dir)
        let path = damaged + "/" + URL(fileURLWithPath: second.path).lastPathComponent
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count / 2] ^= 1
        try bytes.write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try Accounting(
                settings: Accounting.Settings(), directory: damaged, committed: 0, baselines: [], logger: TestLogs.logger(level: .trace))
        } throws: { "\($0)".contains(path) && "\($0)".contains("damaged") }
    }

    /// A segment whose map is full is closed and the next entry starts a new one; a restart
    /// replays every entry of all of them once.
    @Test func aSegmentFullerThanItsMapContinuesInTheNext() async throws {
        let all = Self.entries(1...100)
        let root = AccountingTests.journalDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        var replay = AccountingJournal.Replay()
        var journal = try AccountingJournal(root, firstSequence: 1, maxPeerRows: .max, mapBytes: 4096, replay: &replay)
        Self.append(&journal, all, from: 1)
        let segments = try FileManager.default.contentsOfDirectory(atPath: root).filter { $0.hasPrefix("segment-") }
        // About 130 bytes a record: at least three full maps.
        #expect(segments.count >= 4, "\(segments)")
        #expect(journal.closed.count == segments.count - 1)
        let copy = root + "-copy"
        defer { try? FileManager.default.removeItem(atPath: copy) }
        try FileManager.default.copyItem(atPath: root, toPath: copy)
        #expect(Self.same(try await Self.restart(copy), Self.reference(all, sequence: 100)))
    }

    /// A full map whose next segment cannot be opened (the directory is gone): appends fail
    /// (counted by the caller) until one opens, and a flush meanwhile lists the segment closed
    /// then once.
    @Test func aFailedOpenAfterAFullMapListsTheClosedSegmentOnce() throws {
        let all = Self.entries(1...100)
        let root = AccountingTests.journalDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dir = root + "/journal"
        var replay = AccountingJournal.Replay()
        var journal = try AccountingJournal(dir, firstSequence: 1, maxPeerRows: .max, mapBytes: 4096, replay: &replay)
        var sequence: UInt64 = 1
        while journal.closed.isEmpty {
            let written = journal.append(all[Int(sequence - 1)], sequence: sequence)
            #expect(written)
            sequence += 1
        }
        // The first segment filled; the directory goes away before the next one fills.
        try FileManager.default.moveItem(atPath: dir, toPath: root + "/aside")
        var failed = 0
        while failed == 0, sequence <= 100 {
            if !journal.append(all[Int(sequence - 1)], sequence: sequence) { failed += 1 }
            sequence += 1
        }
        let closedNow = journal.closed.count
        #expect(failed == 1 && closedNow == 2)
        let refused = journal.append(all[Int(sequence - 1)], sequence: sequence)
        #expect(!refused, "no segment could be opened")
        // A flush meanwhile covers the two closed segments, each once.
        let during = journal.rotate(nextSequence: sequence)
        #expect(during.count == 2 && Set(during).count == 2, "\(during)")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let written = journal.append(all[Int(sequence - 1)], sequence: sequence)
        #expect(written)
        let covered = journal.rotate(nextSequence: sequence + 1)
        #expect(covered.count == 3 && Set(covered).count == 3, "\(covered)")
    }

    /// Where nothing can be mapped each record is one `write`: the same files (each exactly its
    /// records, nothing allocated ahead), the same rotation, the same replay after a kill.
    @Test func withoutAMapEachRecordIsOneWrite() async throws {
        let all = Self.entries(1...20)
        let root = AccountingTests.journalDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        var replay = AccountingJournal.Replay()
        var journal = try AccountingJournal(root, firstSequence: 1, maxPeerRows: .max, mapBytes: 0, replay: &replay)
        Self.append(&journal, Array(all[0..<10]), from: 1)
        #expect(journal.rotate(nextSequence: 11) == [AccountingJournal.segmentName(root, 1)])
        Self.append(&journal, Array(all[10...]), from: 11)
        let copy = root + "-copy"
        defer { try? FileManager.default.removeItem(atPath: copy) }
        try FileManager.default.copyItem(atPath: root, toPath: copy)
        var second: [UInt8] = []
        for (i, e) in all[10...].enumerated() { JournalRecord.encode(e, sequence: UInt64(11 + i), into: &second) }
        let open = try Data(contentsOf: URL(fileURLWithPath: AccountingJournal.segmentName(copy, 11)))
        #expect(Array(open) == second, "the open segment holds its records and nothing after them")
        #expect(try Self.sequences(copy, segment: 1) == Array(1...10))
        #expect(Self.same(try await Self.restart(copy), Self.reference(all, sequence: 20)))
    }

    /// A crash cut the last record of the newest segment: the next start replays its whole
    /// records and writes its new entries to a segment of their own (never behind the cut), so
    /// a second crash before any flush still replays every entry.
    @Test func aSegmentCutByACrashIsNeverAppendedTo() async throws {
        let all = Self.entries(1...10)
        let root = AccountingTests.journalDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dir = root + "/journal"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // The first run: five whole records, then half of the sixth, then the zeros allocated
        // ahead.
        var bytes: [UInt8] = []
        for (i, e) in all[0..<5].enumerated() { JournalRecord.encode(e, sequence: UInt64(i + 1), into: &bytes) }
        var sixth: [UInt8] = []
        JournalRecord.encode(all[5], sequence: 6, into: &sixth)
        bytes += sixth.prefix(sixth.count / 2) + [UInt8](repeating: 0, count: 4096)
        let segment = AccountingJournal.segmentName(dir, 1)
        try Data(bytes).write(to: URL(fileURLWithPath: segment))

        // The second: it replays the five, takes the last five, and is killed (the directory
        // copied as it stands).
        var replay = AccountingJournal.Replay()
        var journal = try AccountingJournal(dir, firstSequence: 1, maxPeerRows: .max, replay: &replay)
        #expect(replay.entries.map(\.sequence) == [1, 2, 3, 4, 5])
        #expect(journal.closed == [segment], "the cut segment is kept, closed")
        Self.append(&journal, Array(all[5...]), from: 6)
        let copy = root + "/copy"
        try FileManager.default.copyItem(atPath: dir, toPath: copy)
        #expect(try Self.sequences(copy, segment: 1) == Array(1...5) && Self.sequences(copy, segment: 6) == Array(6...10))
        #expect(Self.same(try await Self.restart(copy), Self.reference(all, sequence: 10)))
    }

    /// A flush failed (two uncommitted segments) and the process stopped: the next start writes
    /// after both, and after a kill then every entry is replayed in sequence order.
    @Test func aRestartAfterSeveralUncommittedSegmentsWritesAfterAllOfThem() async throws {
        let all = Self.entries(1...30)
        let root = AccountingTests.journalDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dir = root + "/journal"
        var replay = AccountingJournal.Replay()
        do {
            var journal = try AccountingJournal(dir, firstSequence: 1, maxPeerRows: .max, replay: &replay)
            Self.append(&journal, Array(all[0..<10]), from: 1)
            _ = journal.rotate(nextSequence: 11)
            Self.append(&journal, Array(all[10..<20]), from: 11)
        }
        replay = AccountingJournal.Replay()
        var journal = try AccountingJournal(dir, firstSequence: 1, maxPeerRows: .max, replay: &replay)
        #expect(replay.entries.map(\.sequence) == Array(1...20))
        #expect(journal.closed == [AccountingJournal.segmentName(dir, 1), AccountingJournal.segmentName(dir, 11)])
        Self.append(&journal, Array(all[20...]), from: 21)
        let copy = root + "/copy"
        try FileManager.default.copyItem(atPath: dir, toPath: copy)
        #expect(try Self.sequences(copy, segment: 21) == Array(21...30))
        #expect(Self.same(try await Self.restart(copy), Self.reference(all, sequence: 30)))
    }
}
