import TrackerCore

/// The statistics table's rows with their sorted orders (`TorrentTable`), read from the store
/// at most every `minimumKeep` or ten times as long as the last read took (a Redis with
/// 100,000 torrents takes about half a second), so an open page never costs the store more
/// than a tenth of its time: DataTables asks again for every page, sort and keystroke.
///
/// Single-flight: while one read is in flight, requests get the previous rows if there are any,
/// or wait for that read; they never start reads of their own.
final class StatsRowsCache: Sendable {
    typealias Completion = @Sendable (Result<TorrentTable, StoreError>) -> Void
    typealias Read = @Sendable (@escaping @Sendable (Result<[TorrentRow], StoreError>) -> Void) -> Void

    private struct State {
        var table: TorrentTable?
        var at: ContinuousClock.Instant?
        var keep = Duration.zero
        /// Non-nil while a read is in flight: the requests waiting for it.
        var waiting: [Completion]?
    }
    private let state = Locked(State())
    private let read: Read
    private let minimumKeep: Duration
    private let now: @Sendable () -> ContinuousClock.Instant

    init(minimumKeep: Duration = .seconds(2), now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }, read: @escaping Read) {
        self.read = read
        self.minimumKeep = minimumKeep
        self.now = now
    }

    /// Calls `body` with the rows, at once when they are fresh (or stale while a read is in
    /// flight), else when the read that brings them completes.
    func withTable(_ body: @escaping Completion) {
        let started = now()
        enum Step {
            case use(TorrentTable)
            case wait
            case read
        }
        let step = state.withLock { s -> Step in
            if let t = s.table, let at = s.at, started - at < s.keep { return .use(t) }
            if s.waiting != nil {
                if let t = s.table { return .use(t) }
                s.waiting!.append(body)
                return .wait
            }
            s.waiting = []
            return .read
        }
        switch step {
        case .use(let table):
            body(.success(table))
        case .wait:
            return
        case .read:
            read { [self] result in
                let took = now() - started
                let table = result.map { TorrentTable(rows: $0) }
                let waiting = state.withLock { s -> [Completion] in
                    if case .success(let t) = table {
                        (s.table, s.at, s.keep) = (t, started, max(minimumKeep, took * 10))
                    }
                    defer { s.waiting = nil }
                    return s.waiting ?? []
                }
                body(table)
                for w in waiting { w(table) }
            }
        }
    }
}
