import Foundation
public import Logging
import NIOPosix
import PrivateCore
public import ServiceLifecycle
public import TrackerCore

/// Runs the accounting: a flush every `accounting.flush_ms`, a journal sync every
/// `accounting.fsync_ms`, and at graceful shutdown (after the tracker has drained, so no
/// announce comes after it) flushes until nothing is pending, for at most `shutdownGrace`. What
/// a failed last flush leaves stays in the journal for the next start: nothing is lost.
public struct AccountingService: Service {
    let accounting: Accounting
    let sink: any AccountingSink
    let tracker: PrivateTracker
    let store: any PeerStore
    let flushEvery: Duration
    let syncEvery: Duration
    let shutdownGrace: Duration
    let logger: Logger

    public init(
        accounting: Accounting, sink: any AccountingSink, tracker: PrivateTracker, store: any PeerStore, flushEvery: Duration,
        syncEvery: Duration, shutdownGrace: Duration = .seconds(30), logger: Logger
    ) {
        (self.accounting, self.sink, self.tracker, self.store) = (accounting, sink, tracker, store)
        (self.flushEvery, self.syncEvery, self.shutdownGrace, self.logger) = (flushEvery, syncEvery, shutdownGrace, logger)
    }

    public func run() async throws {
        let (accounting, syncEvery) = (accounting, syncEvery)
        let syncer = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: syncEvery)
                accounting.sync()
            }
        }
        defer { syncer.cancel() }
        try? await cancelWhenGracefulShutdown {
            while true {
                await flush()
                try await Task.sleep(for: flushEvery)
            }
        }
        await drain()
        accounting.sync()
    }

    /// One flush (after looking up the Redis steps whose answers were lost), with the store's
    /// counts of the torrents announced since the last.
    @discardableResult
    func flush() async -> Bool {
        await accounting.resolve()
        let (tracker, store) = (tracker, store)
        return await accounting.flush(to: sink) { ids in await Self.counts(of: ids, tracker: tracker, store: store) }
    }

    /// Flushes until nothing is pending (no entry, and no Redis step whose answer was lost: those
    /// are looked up `Accounting.resolveAfter` seconds after their announces) or `shutdownGrace`
    /// has passed.
    func drain() async {
        let deadline = ContinuousClock.now + shutdownGrace
        var rounds = 0
        while accounting.pending > 0 || accounting.unanswered > 0 || rounds == 0 {
            rounds += 1
            if await flush(), accounting.pending == 0, accounting.unanswered == 0 { break }
            guard ContinuousClock.now < deadline else {
                logger.error(
                    "accounting: shutdown flush incomplete; the journal keeps what is pending for the next start",
                    metadata: [
                        "pending": "\(accounting.pending)", "unanswered_steps": "\(accounting.unanswered)", "rounds": "\(rounds)",
                    ])
                return
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
        logger.info("accounting flushed at shutdown", metadata: ["rounds": "\(rounds)"])
    }

    /// Each torrent's seeders and leechers as the store holds them, over both hashes of a
    /// hybrid torrent (a peer in both swarms once). A torrent the store does not hold counts 0;
    /// a store that fails leaves its torrents out (they are recounted at their next announce).
    static func counts(of ids: Set<UInt32>, tracker: PrivateTracker, store: any PeerStore) async -> [UInt32: (seeders: Int, leechers: Int)]
    {
        guard !ids.isEmpty else { return [:] }
        let hashes: [(UInt32, [InfoHash])] = tracker.read { r in
            ids.compactMap { id in r.torrents[id].map { t in (id, [t.infoHash] + (t.infoHashV2.map { [$0] } ?? [])) } }
        }
        let all = hashes.flatMap(\.1)
        var scraped: [InfoHash: ScrapeEntry] = [:]
        for start in stride(from: 0, to: all.count, by: 500) {
            guard let part = try? await store.scrape(Array(all[start..<min(start + 500, all.count)])) else { return [:] }
            scraped.merge(part) { a, _ in a }
        }
        var out: [UInt32: (seeders: Int, leechers: Int)] = [:]
        for (id, hs) in hashes {
            out[id] = hs.reduce((0, 0)) { c, h in scraped[h].map { (c.0 + $0.complete, c.1 + $0.incomplete) } ?? c }
            // A hybrid torrent's peer that announces both hashes (one peer_id, as libtorrent
            // does) stands in both swarms: it is counted once, by its latest announce.
            if hs.count == 2, let distinct = await distinctCounts(hs, store: store) { out[id] = distinct }
        }
        return out
    }

    /// The seeders and leechers of the swarms of `hashes` counted once per (user, peer_id); nil
    /// when a swarm is too large to list (the sum stands) or the store fails.
    static func distinctCounts(_ hashes: [InfoHash], store: any PeerStore, limit: Int = 10_000) async -> (seeders: Int, leechers: Int)? {
        var latest: [PrivateCore.PeerKey: PeerRow] = [:]
        for h in hashes {
            let listed: [PeerRow]?
            do { listed = try await store.peerRows(of: h, limit: limit) } catch { return nil }
            guard let rows = listed else { continue }
            guard rows.count < limit else { return nil }
            for row in rows {
                let key = PrivateCore.PeerKey(user: row.user, torrent: 0, peerID: row.peerID)
                if let seen = latest[key], seen.idle <= row.idle { continue }
                latest[key] = row
            }
        }
        let seeders = latest.values.count { $0.role == .seeder }
        return (seeders, latest.count - seeders)
    }
}

/// One blocking connection of a sink, kept between calls and made again after an error; calls
/// run one at a time on NIO's blocking pool (never on an event loop). The one owner of its
/// connection.
final class BlockingSession<Connection>: @unchecked Sendable {
    private var connection: Connection?
    private let serial = Locked(())
    private let connect: @Sendable () throws -> Connection

    init(connect: @escaping @Sendable () throws -> Connection) { self.connect = connect }

    func run<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive {
            try self.serial.withLock { _ in
                do {
                    let c = try self.connection ?? self.connect()
                    self.connection = c
                    return try body(c)
                } catch {
                    self.connection = nil
                    throw error
                }
            }
        }
    }
}
