import Logging
import Synchronization
import Testing
import TrackerCore
import TrackerTestSupport

@testable import TrackerServer

/// A clock the tests move.
final class ManualInstant: Sendable {
    private let value = Mutex(ContinuousClock.now)
    var now: ContinuousClock.Instant { value.withLock { $0 } }
    func advance(_ d: Duration) { value.withLock { $0 += d } }
}

/// The statistics rows cache: fresh rows reused, one read in flight at a time.
@Suite struct StatsRowsCacheTests {
    final class Reads: Sendable {
        let pending = Mutex<[CheckedContinuation<Result<[TorrentRow], StoreError>, Never>]>([])
        let count = Atomic<Int>(0)
        /// Requests answered with one row.
        let answered = Atomic<Int>(0)
        /// Completes the oldest read in flight with `rows`.
        func complete(_ rows: [TorrentRow]) {
            let next = pending.withLock { $0.isEmpty ? nil : $0.removeFirst() }
            next?.resume(returning: .success(rows))
        }
        /// Waits (at most 10 s) until `n` reads have started.
        func started(_ n: Int) async throws {
            var waited = 0
            while count.load(ordering: .relaxed) < n || pending.withLock({ $0.isEmpty }), waited < 1000 {
                try await Task.sleep(for: .milliseconds(10))
                waited += 1
            }
            try #require(count.load(ordering: .relaxed) == n)
        }
    }

    func row(_ n: UInt8) -> TorrentRow {
        TorrentRow(
            infoHash: InfoHash([n] + [UInt8](repeating: 0, count: 19))!, seeders: 1, leechers: 0, completed: 0, ipv4: 1, ipv6: 0, idle: 0)
    }

    /// A cache on a moved clock whose reads wait until the test completes them.
    static func cache(spawn: StatsRowsCache.Spawn? = nil) -> (ManualInstant, Reads, StatsRowsCache) {
        let clock = ManualInstant()
        let reads = Reads()
        let cache = StatsRowsCache(minimumKeep: .seconds(2), now: { clock.now }, spawn: spawn) {
            () async throws(StoreError) -> [TorrentRow] in
            reads.count.add(1, ordering: .relaxed)
            let r = await withCheckedContinuation { c in reads.pending.withLock { $0.append(c) } }
            return try r.get()
        }
        return (clock, reads, cache)
    }

    @Test func concurrentMissesShareOneRead() async throws {
        let (clock, reads, cache) = Self.cache()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<20 {
                group.addTask { if try await cache.table().rows.count == 1 { reads.answered.add(1, ordering: .relaxed) } }
            }
            try await reads.started(1)
            try await Task.sleep(for: .milliseconds(50))
            #expect(reads.count.load(ordering: .relaxed) == 1, "twenty misses, one read")
            #expect(reads.answered.load(ordering: .relaxed) == 0)
            reads.complete([row(1)])
            try await group.waitForAll()
        }
        #expect(reads.answered.load(ordering: .relaxed) == 20, "every waiter gets the read's rows")
        #expect(reads.count.load(ordering: .relaxed) == 1)
        // Fresh: no read.
        _ = try await cache.table()
        #expect(reads.count.load(ordering: .relaxed) == 1)
        // Stale: one refresh; while it is in flight the others get the previous rows at once.
        clock.advance(.seconds(3))
        async let refreshed = cache.table()
        try await reads.started(2)
        for _ in 0..<5 { #expect(try await cache.table().rows.count == 1) }
        #expect(reads.count.load(ordering: .relaxed) == 2)
        reads.complete([row(1), row(2)])
        #expect(try await refreshed.rows.count == 2)
        #expect(try await cache.table().rows.count == 2)
    }

    @Test func rowsAreKeptTenTimesAsLongAsTheReadTook() async throws {
        let (clock, reads, cache) = Self.cache()
        async let first = cache.table()
        try await reads.started(1)
        clock.advance(.seconds(1))
        reads.complete([row(1)])
        _ = try await first
        clock.advance(.seconds(8))
        _ = try await cache.table()
        #expect(reads.count.load(ordering: .relaxed) == 1, "a 1 s read is kept 10 s")
        clock.advance(.seconds(2))
        async let second = cache.table()
        try await reads.started(2)
        reads.complete([row(1)])
        _ = try await second
    }

    /// Jobs handed to `spawn`, run when the test says.
    final class Spawned: Sendable {
        let jobs = Mutex<[@Sendable () async -> Void]>([])
        func runNext() async {
            let job = jobs.withLock { $0.isEmpty ? nil : $0.removeFirst() }
            await job?()
        }
    }

    @Test func staleRowsAreRefreshedInTheBackgroundInTheOrdersAskedBefore() async throws {
        let spawned = Spawned()
        let (clock, reads, cache) = Self.cache(spawn: { job in
            spawned.jobs.withLock { $0.append(job) }
            return true
        })
        async let first = cache.table()
        try await reads.started(1)
        reads.complete([row(1)])
        let old = try await first
        _ = TorrentQuery(order: .leechers, ascending: true).run(on: old)
        #expect(old.hasOrder(.leechers, ascending: true) && old.hasOrder(.seeders, ascending: false))
        clock.advance(.seconds(3))
        // Stale: answered at once with the old rows; the refresh waits in the background.
        #expect(try await cache.table() === old)
        #expect(reads.count.load(ordering: .relaxed) == 1 && spawned.jobs.withLock { $0.count } == 1)
        #expect(try await cache.table() === old, "a refresh is in flight: no second one")
        #expect(spawned.jobs.withLock { $0.count } == 1)
        async let refresh: Void = spawned.runNext()
        try await reads.started(2)
        reads.complete([row(1), row(2)])
        await refresh
        let new = try await cache.table()
        #expect(new.rows.count == 2)
        #expect(new.hasOrder(.leechers, ascending: true), "sorted before it was published, as the old rows had been asked")
        #expect(new.hasOrder(.seeders, ascending: false) && !new.hasOrder(.idle, ascending: true))
    }

    @Test func aFailedReadIsNotKept() async {
        let reads = Atomic<Int>(0)
        let cache = StatsRowsCache { () async throws(StoreError) -> [TorrentRow] in
            reads.add(1, ordering: .relaxed)
            throw .unavailable("down")
        }
        #expect((try? await cache.table()) == nil)
        _ = try? await cache.table()
        #expect(reads.load(ordering: .relaxed) == 2)
    }
}

/// Captures log lines, for tests of what is logged.
final class CapturedLog: Sendable {
    let lines = Mutex<[(Logger.Level, String, Logger.Metadata)]>([])
    var logger: Logger {
        Logger(label: "test") { _ in Handler(log: self) }
    }
    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            log.lines.withLock { $0.append((event.level, "\(event.message)", event.metadata ?? [:])) }
        }
    }
}

/// A store outage is logged by its transitions, never per request.
@Suite struct OutageLogTests {
    @Test func oneLineDownOneEveryTenSecondsWithACountOneLineUp() {
        let clock = ManualInstant()
        let captured = CapturedLog()
        let log = OutageLog(logger: captured.logger, now: { clock.now })
        log.succeeded()
        #expect(captured.lines.withLock { $0.isEmpty })
        for _ in 0..<1000 { log.failed("connection refused") }
        #expect(captured.lines.withLock { $0.map(\.1) } == ["store unavailable"])
        clock.advance(.seconds(10))
        for _ in 0..<500 { log.failed("connection refused") }
        clock.advance(.seconds(5))
        for _ in 0..<10 { log.failed("connection refused") }
        let lines = captured.lines.withLock { $0 }
        #expect(lines.map(\.1) == ["store unavailable", "store still unavailable"])
        #expect(lines.last?.2["failed"] == "1000", "the 999 after the first line and the one that wrote this one")
        // Successes while failures still come (a recovery's late replies and timeouts) end
        // nothing; the first one a second after the last failure does.
        for _ in 0..<5 {
            log.succeeded()
            log.failed("late")
        }
        #expect(captured.lines.withLock { $0.count } == 2)
        clock.advance(.seconds(1))
        for _ in 0..<100 { log.succeeded() }
        let after = captured.lines.withLock { $0 }
        #expect(after.map(\.1) == ["store unavailable", "store still unavailable", "store available again"])
        #expect(after.last?.2["failed"] == "1515" && after.last?.0 == .notice)
        log.failed("again")
        #expect(captured.lines.withLock { $0.count } == 4, "a new outage is a new line")
    }
}
