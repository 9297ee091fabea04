import Logging
import Synchronization
import TrackerCore

/// Logs a store outage by its transitions instead of by request: one line when requests start
/// failing, then at most one line every `every` with how many failed since the last, and one
/// line when requests succeed again: the first success `settle` after the last failure, so a
/// recovery in which late replies and timeouts still alternate (a Redis resumed after a pause
/// answers its backlog while older commands time out) is one transition, not one per flap. A
/// dead Redis under load fails thousands of announces a second; a line for each, written
/// synchronously on an event loop, would slow the loops and bury the log.
final class OutageLog: Sendable {
    private struct Outage {
        var since: ContinuousClock.Instant
        var lastLine: ContinuousClock.Instant
        var failedSinceLine = 0
        var failed = 1
        var lastFailure: ContinuousClock.Instant
    }
    /// Read on every success; the lock is taken only while an outage lasts.
    private let down = Atomic<Bool>(false)
    private let outage = Locked<Outage?>(nil)
    private let logger: Logger
    private let every: Duration
    private let settle: Duration
    private let now: @Sendable () -> ContinuousClock.Instant

    init(
        logger: Logger, every: Duration = .seconds(10), settle: Duration = .seconds(1),
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.logger = logger
        self.every = every
        self.settle = settle
        self.now = now
    }

    /// A request failed because the store is unavailable (`reason` as the store gave it).
    func failed(_ reason: String) {
        let t = now()
        let line = outage.withLock { o -> (String, Logger.Metadata)? in
            guard var current = o else {
                o = Outage(since: t, lastLine: t, lastFailure: t)
                down.store(true, ordering: .releasing)
                return ("store unavailable", ["reason": "\(reason)"])
            }
            current.failed += 1
            current.failedSinceLine += 1
            current.lastFailure = t
            defer { o = current }
            guard t - current.lastLine >= every else { return nil }
            let count = current.failedSinceLine
            (current.lastLine, current.failedSinceLine) = (t, 0)
            return (
                "store still unavailable",
                ["failed": "\(count)", "seconds": "\((t - current.since).components.seconds)", "reason": "\(reason)"]
            )
        }
        if let (message, metadata) = line { logger.error("\(message)", metadata: metadata) }
    }

    /// A request the store answered: ends an outage, if one was going on and its last failure
    /// is `settle` old.
    func succeeded() {
        guard down.load(ordering: .relaxed) else { return }
        let t = now()
        // The flag changes under the lock, so a failure racing this success starts a new outage.
        let ended = outage.withLock { o -> Outage? in
            guard let current = o, t - current.lastFailure >= settle else { return nil }
            o = nil
            down.store(false, ordering: .relaxed)
            return current
        }
        guard let ended else { return }
        logger.notice(
            "store available again", metadata: ["failed": "\(ended.failed)", "seconds": "\((t - ended.since).components.seconds)"])
    }
}
