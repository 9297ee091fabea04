import Logging
import Synchronization
import Testing
import TrackerCore

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
        let pending = Mutex<[@Sendable (Result<[TorrentRow], StoreError>) -> Void]>([])
        let count = Atomic<Int>(0)
        /// Completes the oldest read in flight with `rows`.
        func complete(_ rows: [TorrentRow]) {
            let next = pending.withLock { $0.isEmpty ? nil : $0.removeFirst() }
            next?(.success(rows))
        }
    }

    func row(_ n: UInt8) -> TorrentRow {
        TorrentRow(
            infoHash: InfoHash([n] + [UInt8](repeating: 0, count: 19))!, seeders: 1, leechers: 0, completed: 0, ipv4: 1, ipv6: 0, idle: 0)
    }

    /// A cache on a moved clock whose reads wait until the test completes them.
    static func cache() -> (ManualInstant, Reads, StatsRowsCache) {
        let clock = ManualInstant()
        let reads = Reads()
        let cache = StatsRowsCache(minimumKeep: .seconds(2), now: { clock.now }) { done in
            reads.count.add(1, ordering: .relaxed)
            reads.pending.withLock { $0.append(done) }
        }
        return (clock, reads, cache)
    }

    @Test func concurrentMissesShareOneRead() {
        let (clock, reads, cache) = Self.cache()
        let answered = Atomic<Int>(0)
        for _ in 0..<20 { cache.withTable { if case .success(let t) = $0, t.rows.count == 1 { answered.add(1, ordering: .relaxed) } } }
        #expect(reads.count.load(ordering: .relaxed) == 1, "twenty misses, one read")
        #expect(answered.load(ordering: .relaxed) == 0)
        reads.complete([row(1)])
        #expect(answered.load(ordering: .relaxed) == 20, "every waiter gets the read's rows")
        // Fresh: no read.
        cache.withTable { _ in answered.add(1, ordering: .relaxed) }
        #expect(reads.count.load(ordering: .relaxed) == 1 && answered.load(ordering: .relaxed) == 21)
        // Stale: one refresh; while it is in flight the others get the previous rows at once.
        clock.advance(.seconds(3))
        cache.withTable { _ in answered.add(1, ordering: .relaxed) }
        for _ in 0..<5 { cache.withTable { if case .success(let t) = $0, t.rows.count == 1 { answered.add(1, ordering: .relaxed) } } }
        #expect(reads.count.load(ordering: .relaxed) == 2)
        #expect(answered.load(ordering: .relaxed) == 26)
        reads.complete([row(1), row(2)])
        #expect(answered.load(ordering: .relaxed) == 27)
    }

    @Test func rowsAreKeptTenTimesAsLongAsTheReadTook() {
        let (clock, reads, cache) = Self.cache()
        cache.withTable { _ in }
        clock.advance(.seconds(1))
        reads.complete([row(1)])
        clock.advance(.seconds(8))
        cache.withTable { _ in }
        #expect(reads.count.load(ordering: .relaxed) == 1, "a 1 s read is kept 10 s")
        clock.advance(.seconds(2))
        cache.withTable { _ in }
        #expect(reads.count.load(ordering: .relaxed) == 2)
    }

    @Test func aFailedReadIsNotKept() {
        let reads = Atomic<Int>(0)
        let cache = StatsRowsCache { done in
            reads.add(1, ordering: .relaxed)
            done(.failure(.unavailable("down")))
        }
        cache.withTable { #expect((try? $0.get()) == nil) }
        cache.withTable { _ in }
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
        func log(
            level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String,
            line: UInt
        ) {
            log.lines.withLock { $0.append((level, "\(message)", metadata ?? [:])) }
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
