import Foundation
public import Logging
import NIOPosix
public import PrivateCore
import Synchronization
import TrackerCore

/// Where flushes go (`accounting.sink`).
public protocol AccountingSink: Sendable {
    /// The last sequence this instance committed, and the baselines the sink keeps (the
    /// site's `peers` rows) for the accounting table at startup.
    func prepare(since: UInt32, limit: Int) async throws -> (sequence: UInt64, baselines: [RestoredBaseline])
    /// Commits `batch` whole, or throws having applied nothing. Returns rows it dropped (their
    /// user or torrent no longer exists).
    func write(_ batch: FlushBatch) async throws -> Int
}

/// Private mode's accounting (issue 14): each successful announce becomes an `AccountEntry`
/// (its deltas by the counter rule against the peer's baseline, credited by UNIT3D-Announce's
/// factors), written to the journal before the reply and merged into the ledger; a flush
/// commits the ledger to the sink with the sequence of its last entry, then deletes the
/// journal's covered segments. The baselines are stepped first (in their own home, see
/// `AccountBaselines`); then one lock over the ledger and the journal, held for a `write` and a
/// merge.
public final class Accounting: Sendable {
    public struct Settings: Sendable, Equatable {
        public var factors = FactorSettings()
        /// `private.dedup_window`: a lower counter inside it (without `started`) is stale.
        public var dedupWindow: UInt32 = 120
        /// A peer counts as active this long after its last announce (`ACTIVE_PEER_TTL`).
        public var activeTTL: UInt32 = 7200
        /// The table forgets a (user, torrent) this long after its last announce
        /// (`INACTIVE_PEER_TTL`, 21 days) and holds at most `capacity` of them.
        public var tableTTL: UInt32 = 1_814_400
        public var capacity = 2_000_000
        /// Baselines kept per (user, torrent): the user's peers there, and a few it rotated out.
        public var peersPerAccount = 8
        /// `accounting.journal_compact_mb`: while flushes fail, the closed segments are folded
        /// into one compact file once their entries take this many bytes (and more than the
        /// last compact file).
        public var compactBytes = 64 << 20
        /// Redis steps whose answers were lost held at most for a lookup (more are not held:
        /// counted as lost, their intents stay in the journal for the next start).
        public var maxUnanswered = 10_000
        public init() {}
    }

    private struct State: ~Copyable {
        var ledger = Ledger()
        var journal: AccountingJournal
        var nextSequence: UInt64
        /// Torrents announced since the last flush taken (their counts are written with it).
        var touched = Set<UInt32>()
        /// Unix second of the oldest entry not yet committed (nil: none).
        var oldestPending: UInt32?
        var journalErrors = 0
        /// Entries waiting in a flush being written (for the lag while it runs).
        var inFlightOldest: UInt32?
        /// Torrents last written with a seeder or leecher, recounted every `recountEvery`
        /// seconds so that peers which expire without a word leave the counts too.
        var counted = Set<UInt32>()
        var recountedAt: UInt32 = 0
        /// With Redis's baselines (`durable`): intents journalled whose steps have not answered,
        /// and those whose answers were lost (a failed step, or the journal's replay), by token.
        var inFlight: [UInt64: AccountIntent] = [:]
        var unresolved: [UInt64: AccountIntent] = [:]
        /// The lowest token in `unresolved` (at most it: lowered on insert, recomputed after
        /// each pass of `resolve`).
        var unresolvedLow = UInt64.max
        var nextToken: UInt64 = 1
        /// At most the lowest token in `inFlight` (it moves up past tokens answered).
        var lowCursor: UInt64 = 1

        /// The lowest token still needed: Redis drops the outcomes below it.
        mutating func lowToken() -> UInt64 {
            while lowCursor < nextToken, inFlight[lowCursor] == nil { lowCursor += 1 }
            return min(lowCursor, unresolvedLow)
        }
    }

    /// Seconds after its announce before a lost answer's step is looked up (so a command still
    /// queued in Redis for a closed connection has run by then).
    static let resolveAfter: UInt32 = 5

    /// Seconds between recounts of every torrent last written with peers.
    static let recountEvery: UInt32 = 300

    private let state: Locked<State>
    let settings: Settings
    /// Each peer's baseline: in this process, or in the Redis store.
    let baselines: any AccountBaselines
    private let baselineErrors = Atomic<Int>(0)
    let logger: Logger
    let unixNow: @Sendable () -> UInt32
    private let flushes = Atomic<Int>(0)
    private let failedFlushes = Atomic<Int>(0)
    private let droppedRows = Atomic<Int>(0)
    private let lastLag = Atomic<Int>(0)
    private let compactions = Atomic<Int>(0)
    private let failedCompactions = Atomic<Int>(0)
    private let recoveredSteps = Atomic<Int>(0)
    private let lostSteps = Atomic<Int>(0)

    /// Opens the journal in `directory`: entries past `committed` (the sink's last sequence)
    /// are merged into the ledger again, and every entry's baseline is restored after the
    /// sink's `baselines` (into `store`'s baselines; in this process when nil).
    public init(
        settings: Settings, directory: String, committed: UInt64, baselines: [RestoredBaseline], store: (any AccountBaselines)? = nil,
        logger: Logger, unixNow: @escaping @Sendable () -> UInt32 = Accounting.systemUnixNow
    ) throws {
        let table = store ?? MemoryAccountBaselines(capacity: settings.capacity, ttl: settings.tableTTL)
        for b in baselines { table.restore(b, maxPeers: settings.peersPerAccount) }
        var replay = AccountingJournal.Replay()
        let journal = try AccountingJournal(directory, firstSequence: committed + 1, maxPeerRows: settings.capacity, replay: &replay)
        var ledger = Ledger()
        var last = committed
        var replayed = 0
        var oldest: UInt32?
        if let fold = replay.fold {
            for b in fold.baselines { table.restore(b, maxPeers: settings.peersPerAccount) }
            if let first = fold.first, let end = fold.last, end > committed {
                // A compact file folds segments that were all pending: none of it can be committed.
                guard first > committed else {
                    throw AccountingJournal.Failure(
                        description: "the compact file holds sequences \(first)...\(end) but the sink committed \(committed) of them")
                }
                (ledger, last, oldest, replayed) = (fold.ledger, end, fold.oldest, Int(end - first + 1))
            }
        }
        for (sequence, e) in replay.entries {
            table.restore(RestoredBaseline(e), maxPeers: settings.peersPerAccount)
            guard sequence > committed else { continue }
            ledger.add(e, maxPeerRows: settings.capacity)
            replayed += 1
            last = max(last, sequence)
            oldest = min(oldest ?? e.at, e.at)
        }
        var s = State(journal: journal, nextSequence: max(last, replay.fold?.last ?? 0) + 1)
        s.ledger = ledger
        s.oldestPending = oldest
        // Tokens grow with time across restarts: this start's millisecond, 2^20 steps each.
        s.nextToken = max(UInt64(Date().timeIntervalSince1970 * 1000) << 20, replay.lastToken + 1)
        s.lowCursor = s.nextToken
        if table.durable {
            s.unresolved = replay.intents
            s.unresolvedLow = replay.intents.keys.min() ?? .max
        } else if !replay.intents.isEmpty {
            logger.warning(
                "accounting: the journal holds steps taken in Redis whose entries were not written, but the store is not Redis now; they are dropped",
                metadata: ["steps": "\(replay.intents.count)"])
        }
        state = Locked(s)
        (self.settings, self.logger, self.unixNow, self.baselines) = (settings, logger, unixNow, table)
        logger.info(
            "accounting ready",
            metadata: [
                "committed": "\(committed)", "replayed": "\(replayed)", "baselines": "\(baselines.count)",
                "unanswered_steps": "\(replay.intents.count)",
                "journal_segments": "\(state.withLock { $0.journal.closed.count })",
            ])
    }

    /// The system's clock, in whole unix seconds.
    public static let systemUnixNow: @Sendable () -> UInt32 = { UInt32(clamping: Int(Date().timeIntervalSince1970)) }

    /// One successful announce (its store call recorded the peer): the step against the peer's
    /// baseline, then the entry journalled and merged (nothing when the table had no room for
    /// the pair); `completion` gets nil or the baselines' store's error (the baseline did not
    /// move, so the peer's next announce credits these bytes). With the memory store it
    /// completes inline.
    func record(
        user: UInt32, torrent: UInt32, request: AnnounceRequest, agent: [UInt8]?, endpoint: Endpoint, factors: Factors,
        visible: Bool, completion: @escaping @Sendable (StoreError?) -> Void = { _ in }
    ) {
        let now = unixNow()
        let settings = settings
        // With Redis's baselines, the step is journalled before it is taken (its outcome
        // outlives this process), and Redis keeps its outcome under the intent's token.
        var ticket: StepTicket?
        if baselines.durable {
            let intent = AccountIntent(
                token: 0, user: user, torrent: torrent, peerID: request.peerID, at: now, agent: Array((agent ?? []).prefix(64)),
                ip: endpoint.address.bytes, port: endpoint.port, uploaded: request.uploaded, downloaded: request.downloaded,
                left: request.left, event: request.event, factors: factors, visible: visible)
            ticket = state.withLock { s in
                var i = intent
                i.token = s.nextToken
                s.nextToken += 1
                if !s.journal.append(i, sequence: s.nextSequence) { s.journalErrors += 1 }
                s.inFlight[i.token] = i
                return StepTicket(token: i.token, low: s.lowToken())
            }
        }
        let token = ticket?.token ?? 0
        baselines.step(
            UserTorrent(user: user, torrent: torrent), peerID: request.peerID, uploaded: request.uploaded, downloaded: request.downloaded,
            left: request.left, event: request.event, now: now, window: settings.dedupWindow, activeTTL: settings.activeTTL,
            maxPeers: settings.peersPerAccount, ticket: ticket
        ) { result in
            switch result {
            case .success(let step?):
                self.enter(
                    step, user: user, torrent: torrent, peerID: request.peerID, left: request.left, event: request.event, agent: agent,
                    ip: endpoint.address.bytes, port: endpoint.port, factors: factors, visible: visible, now: now, token: token)
                completion(nil)
            case .success(nil):
                if token != 0 { self.state.withLock { _ = $0.inFlight.removeValue(forKey: token) } }
                completion(nil)
            case .failure(let e):
                self.baselineErrors.add(1, ordering: .relaxed)
                // The script may have run (the reply was lost): its outcome is looked up later.
                if token != 0 { self.keepUnanswered(token) }
                completion(e)
            }
        }
    }

    /// A step whose answer was lost: held for `resolve`, while there is room.
    private func keepUnanswered(_ token: UInt64) {
        let kept = state.withLock { s -> Bool in
            guard let i = s.inFlight.removeValue(forKey: token) else { return true }
            guard s.unresolved.count < self.settings.maxUnanswered else { return false }
            s.unresolved[token] = i
            s.unresolvedLow = min(s.unresolvedLow, token)
            return true
        }
        if !kept { lostSteps.add(1, ordering: .relaxed) }
    }

    /// Looks up in the baselines' store the steps whose answers were lost (at least
    /// `resolveAfter` seconds old) and enters those it took; a step it never took is dropped
    /// (its baseline did not move, so the peer's next announce credits its bytes). Stops at the
    /// first failure (the store is away; the rest wait for the next call).
    func resolve() async {
        let now = unixNow()
        let due = state.withLock { s in
            s.unresolved.values.filter { now &- $0.at >= Self.resolveAfter }.sorted { $0.token < $1.token }
        }
        guard !due.isEmpty else { return }
        var (recovered, absent) = (0, 0)
        lookups: for i in due {
            switch await baselines.recorded(i, window: settings.dedupWindow) {
            case .success(let step?):
                enter(
                    step, user: i.user, torrent: i.torrent, peerID: i.peerID, left: i.left, event: i.event, agent: i.agent, ip: i.ip,
                    port: i.port, factors: i.factors, visible: i.visible, now: i.at, token: i.token)
                recovered += 1
            case .success(nil):
                state.withLock { _ = $0.unresolved.removeValue(forKey: i.token) }
                absent += 1
            case .failure:
                break lookups
            }
        }
        state.withLock { s in s.unresolvedLow = s.unresolved.keys.min() ?? .max }
        recoveredSteps.add(recovered, ordering: .relaxed)
        guard recovered + absent > 0 else { return }
        logger.info(
            "accounting: steps whose answers were lost looked up in Redis",
            metadata: ["entered": "\(recovered)", "never_taken": "\(absent)", "waiting": "\(due.count - recovered - absent)"])
    }

    private func enter(
        _ step: TorrentAccount.Step, user: UInt32, torrent: UInt32, peerID: PeerID, left: UInt64, event: AnnounceEvent, agent: [UInt8]?,
        ip: [UInt8], port: UInt16, factors: Factors, visible: Bool, now: UInt32, token: UInt64
    ) {
        let o = step.outcome
        let e = AccountEntry(
            user: user, torrent: torrent, peerID: peerID, at: now, agent: String(decoding: (agent ?? []).prefix(64), as: UTF8.self),
            ip: ip, port: port, clientUploaded: o.baseline.uploaded, clientDownloaded: o.baseline.downloaded,
            left: left, actualUploaded: o.uploaded, actualDownloaded: o.downloaded,
            uploaded: Factors.credit(o.uploaded, percent: factors.upload),
            downloaded: Factors.credit(o.downloaded, percent: factors.download),
            active: step.historyActive, peerActive: event != .stopped, visible: visible && event != .stopped,
            immune: factors.immune, completedEvent: event == .completed, completion: step.completion,
            seederDelta: Int32(o.seederDelta), leecherDelta: Int32(o.leecherDelta))
        let maxPeerRows = settings.capacity
        state.withLock { s in
            if !s.journal.append(e, sequence: s.nextSequence, token: token) { s.journalErrors += 1 }
            s.nextSequence += 1
            s.ledger.add(e, maxPeerRows: maxPeerRows)
            s.touched.insert(torrent)
            if s.oldestPending == nil { s.oldestPending = now }
            if token != 0 {
                s.inFlight[token] = nil
                s.unresolved[token] = nil
            }
        }
    }

    /// Syncs the journal's open segment to disk (every `accounting.fsync_ms`).
    func sync() {
        let fd = state.withLock { $0.journal.syncHandle() }
        guard fd >= 0 else { return }
        _ = fdatasync(fd)
        _ = close(fd)
    }

    /// Takes everything pending and commits it to `sink`; `counts` gives the store's seeder
    /// and leecher counts of the torrents announced since the last flush. On failure the batch
    /// goes back into the ledger (merged with what came since) and its segments stay. Returns
    /// false when the sink failed.
    @discardableResult
    func flush(to sink: any AccountingSink, counts: @Sendable (Set<UInt32>) async -> [UInt32: (seeders: Int, leechers: Int)]) async
        -> Bool
    {
        let now = unixNow()
        let taken = state.withLock { s -> (FlushBatch, [String], Set<UInt32>, UInt32?)? in
            if now &- s.recountedAt >= Self.recountEvery {
                s.touched.formUnion(s.counted)
                s.recountedAt = now
            }
            guard s.ledger.count > 0 || !s.touched.isEmpty else { return nil }
            let batch = s.ledger.takeAll(sequence: s.nextSequence - 1)
            let segments = s.journal.rotate(nextSequence: s.nextSequence)
            // Intents not answered go on in the new segment (the covered ones are deleted).
            if s.journal.bytes == 0 {
                for i in s.inFlight.values where !s.journal.append(i, sequence: s.nextSequence) { s.journalErrors += 1 }
                for i in s.unresolved.values where !s.journal.append(i, sequence: s.nextSequence) { s.journalErrors += 1 }
            }
            let touched = s.touched
            s.touched = []
            let oldest = s.oldestPending
            (s.inFlightOldest, s.oldestPending) = (oldest, nil)
            return (batch, segments, touched, oldest)
        }
        guard case (var batch, let segments, let touched, let oldest)? = taken else { return true }
        batch.counts = await counts(touched)
        let started = ContinuousClock.now
        do {
            let dropped = try await sink.write(batch)
            let now = unixNow()
            state.withLock { s in
                s.journal.committed(segments)
                s.inFlightOldest = nil
                for (id, c) in batch.counts {
                    if c.seeders + c.leechers > 0 { s.counted.insert(id) } else { s.counted.remove(id) }
                }
            }
            flushes.add(1, ordering: .relaxed)
            if dropped > 0 {
                droppedRows.add(dropped, ordering: .relaxed)
                logger.warning("accounting: rows dropped (their user or torrent no longer exists)", metadata: ["rows": "\(dropped)"])
            }
            if let oldest { lastLag.store(Int(now &- min(now, oldest)), ordering: .relaxed) }
            logger.debug(
                "accounting flushed",
                metadata: [
                    "history": "\(batch.history.count)", "peers": "\(batch.peers.count)", "torrents": "\(batch.torrents.count)",
                    "users": "\(batch.users.count)", "sequence": "\(batch.sequence)",
                    "ms": "\((ContinuousClock.now - started).wholeMilliseconds)",
                ])
            return true
        } catch {
            state.withLock { s in
                s.ledger.putBack(batch)
                s.touched.formUnion(touched)
                if let oldest { s.oldestPending = min(s.oldestPending ?? oldest, oldest) }
                s.inFlightOldest = nil
            }
            failedFlushes.add(1, ordering: .relaxed)
            logger.warning(
                "accounting flush failed; kept for the next",
                metadata: ["error": "\(error)", "pending": "\(batch.history.count + batch.peers.count)"])
            await compactIfDue()
            return false
        }
    }

    /// Folds the journal's closed segments into one compact file when their entries have
    /// outgrown `compactBytes` and the last compact file (a failed flush leaves them all
    /// pending). Reads and writes on NIO's blocking pool; a failure leaves the segments as they
    /// were.
    func compactIfDue() async {
        let limit = settings.compactBytes
        let due = state.withLock { s -> (files: [String], compact: String?, directory: String)? in
            guard s.journal.closedEntryBytes >= max(limit, s.journal.compactBytes), !s.journal.closed.isEmpty else { return nil }
            return (s.journal.closed, s.journal.compactPath, s.journal.directory)
        }
        guard let due else { return }
        let maxPeerRows = settings.capacity
        do {
            let started = ContinuousClock.now
            let before = state.withLock { $0.journal.totalBytes }
            let made = try await NIOThreadPool.singleton.runIfActive {
                try AccountingJournal.compact(due.files, compact: due.compact, directory: due.directory, maxPeerRows: maxPeerRows)
            }
            let after = state.withLock { s in
                s.journal.compacted(due.files, into: made.path, bytes: made.bytes)
                return s.journal.totalBytes
            }
            compactions.add(1, ordering: .relaxed)
            logger.info(
                "accounting journal compacted",
                metadata: [
                    "segments": "\(due.files.count)", "bytes_before": "\(before)", "bytes_after": "\(after)",
                    "rows": "\(made.fold.ledger.count)", "ms": "\((ContinuousClock.now - started).wholeMilliseconds)",
                ])
        } catch {
            failedCompactions.add(1, ordering: .relaxed)
            logger.error("accounting journal compaction failed; the segments stay", metadata: ["error": "\(error)"])
        }
    }

    /// The baselines held for `peers` on `torrent` (the memory table's, or Redis's), in order.
    func baselines(torrent: UInt32, peers: [(user: UInt32, peerID: PeerID)]) async -> [PeerBaseline?] {
        await baselines.baselines(torrent: torrent, peers: peers)
    }

    /// Pending keys over every table.
    var pending: Int { state.withLock { $0.ledger.count } }

    /// Redis steps whose answers were lost, not looked up yet.
    var unanswered: Int { state.withLock { $0.unresolved.count } }

    /// Prometheus lines for `/metrics`.
    func exposition() -> String {
        let now = unixNow()
        let (pending, oldest, journalBytes, journalErrors, segments, skipped, unanswered) = state.withLock { s in
            (
                s.ledger.count, [s.oldestPending, s.inFlightOldest].compactMap { $0 }.min(), s.journal.totalBytes, s.journalErrors,
                s.journal.closed.count + 1, s.ledger.skippedPeerRows, s.unresolved.count
            )
        }
        let (accounts, refused) = baselines.figures
        let lag = oldest.map { Int(now &- min(now, $0)) } ?? 0
        return """
            # HELP squall_accounting_pending Ledger rows waiting for the next flush.
            # TYPE squall_accounting_pending gauge
            squall_accounting_pending \(pending)
            # HELP squall_accounting_flush_lag_seconds Age of the oldest accounted announce not yet committed (0: none).
            # TYPE squall_accounting_flush_lag_seconds gauge
            squall_accounting_flush_lag_seconds \(lag)
            # HELP squall_accounting_last_flush_lag_seconds Entry-to-commit time of the oldest entry of the last committed flush.
            # TYPE squall_accounting_last_flush_lag_seconds gauge
            squall_accounting_last_flush_lag_seconds \(lastLag.load(ordering: .relaxed))
            # HELP squall_accounting_flushes_total Flushes, by result.
            # TYPE squall_accounting_flushes_total counter
            squall_accounting_flushes_total{result="ok"} \(flushes.load(ordering: .relaxed))
            squall_accounting_flushes_total{result="failed"} \(failedFlushes.load(ordering: .relaxed))
            # HELP squall_accounting_dropped_rows_total Rows dropped because the site deleted their user or torrent.
            # TYPE squall_accounting_dropped_rows_total counter
            squall_accounting_dropped_rows_total \(droppedRows.load(ordering: .relaxed))
            # HELP squall_accounting_journal_bytes Bytes in the journal's segments.
            # TYPE squall_accounting_journal_bytes gauge
            squall_accounting_journal_bytes \(journalBytes)
            # HELP squall_accounting_journal_segments Journal segments held (the open one included).
            # TYPE squall_accounting_journal_segments gauge
            squall_accounting_journal_segments \(segments)
            # HELP squall_accounting_journal_compactions_total Compactions of the journal while flushes failed, by result.
            # TYPE squall_accounting_journal_compactions_total counter
            squall_accounting_journal_compactions_total{result="ok"} \(compactions.load(ordering: .relaxed))
            squall_accounting_journal_compactions_total{result="failed"} \(failedCompactions.load(ordering: .relaxed))
            # HELP squall_accounting_journal_errors_total Entries the journal could not write (kept in memory only).
            # TYPE squall_accounting_journal_errors_total counter
            squall_accounting_journal_errors_total \(journalErrors)
            # HELP squall_accounting_accounts (user, torrent) pairs whose baselines are held.
            # TYPE squall_accounting_accounts gauge
            squall_accounting_accounts \(accounts)
            # HELP squall_accounting_untracked_total Announces not accounted because the table was full.
            # TYPE squall_accounting_untracked_total counter
            squall_accounting_untracked_total \(refused)
            # HELP squall_accounting_skipped_peer_rows_total Peers rows not queued because the queue was full (credits were kept).
            # TYPE squall_accounting_skipped_peer_rows_total counter
            squall_accounting_skipped_peer_rows_total \(skipped)
            # HELP squall_accounting_baseline_errors_total Announces not accounted because the baselines' store failed.
            # TYPE squall_accounting_baseline_errors_total counter
            squall_accounting_baseline_errors_total \(baselineErrors.load(ordering: .relaxed))
            # HELP squall_accounting_unanswered_steps Redis steps whose answers were lost (a failed call, or a crash), to look up.
            # TYPE squall_accounting_unanswered_steps gauge
            squall_accounting_unanswered_steps \(unanswered)
            # HELP squall_accounting_recovered_steps_total Redis steps whose answers were lost, entered from the outcome Redis kept.
            # TYPE squall_accounting_recovered_steps_total counter
            squall_accounting_recovered_steps_total \(recoveredSteps.load(ordering: .relaxed))
            # HELP squall_accounting_lost_steps_total Redis steps whose answers were lost and not held (too many at once).
            # TYPE squall_accounting_lost_steps_total counter
            squall_accounting_lost_steps_total \(lostSteps.load(ordering: .relaxed))

            """
    }
}

extension Duration {
    var wholeMilliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + atto / 1_000_000_000_000_000
    }
}
