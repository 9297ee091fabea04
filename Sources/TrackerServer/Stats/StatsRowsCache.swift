import TrackerCore

/// The statistics table's rows with their sorted orders (`TorrentTable`), read from the store
/// at most every `minimumKeep` or ten times as long as the last read took (a Redis with
/// 100,000 torrents takes about half a second), so an open page never costs the store more
/// than a tenth of its time: DataTables asks again for every page, sort and keystroke.
///
/// Single-flight: while one read is in flight, requests get the previous rows if there are any,
/// or wait for that read; they never start reads of their own. Stale rows are refreshed in the
/// background (`spawn`, the bulk work): the request that finds them stale gets them at once, so
/// only the very first request waits for a read. A read is published with the orders the rows
/// before it were asked for already sorted (`TorrentTable.warm`). Everything here runs on the
/// bulk-work pool (`BulkWork`): reads and sorts never run on an event loop.
final class StatsRowsCache: Sendable {
    typealias Read = @Sendable () async throws(StoreError) -> [TorrentRow]
    /// Runs a job in the background; false when it cannot now.
    typealias Spawn = @Sendable (@escaping @Sendable () async -> Void) -> Bool

    private struct State {
        var table: TorrentTable?
        var at: ContinuousClock.Instant?
        var keep = Duration.zero
        /// Non-nil while a read is in flight.
        var flight: Flight?
    }
    private let state = Locked(State())
    private let read: Read
    private let spawn: Spawn?
    private let minimumKeep: Duration
    private let now: @Sendable () -> ContinuousClock.Instant

    /// Without `spawn`, the request that finds the rows stale waits for their refresh.
    init(
        minimumKeep: Duration = .seconds(2), now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }, spawn: Spawn? = nil,
        read: @escaping Read
    ) {
        self.read = read
        self.spawn = spawn
        self.minimumKeep = minimumKeep
        self.now = now
    }

    /// The rows: at once when they are fresh (or stale while a read is in flight), else when the
    /// read that brings them completes.
    func table() async throws(StoreError) -> TorrentTable {
        let started = now()
        enum Step {
            case use(TorrentTable)
            case wait(Flight)
            case read(Flight, stale: TorrentTable?)
        }
        let step = state.withLock { s -> Step in
            if let t = s.table, let at = s.at, started - at < s.keep { return .use(t) }
            if let flight = s.flight {
                if let t = s.table { return .use(t) }
                return .wait(flight)
            }
            let flight = Flight()
            s.flight = flight
            return .read(flight, stale: s.table)
        }
        switch step {
        case .use(let table):
            return table
        case .wait(let flight):
            return try await flight.result().get()
        case .read(let flight, let stale?):
            if let spawn, spawn({ [self] in _ = await refresh(flight, started: started, previous: stale) }) { return stale }
            return try await refresh(flight, started: started, previous: stale).get()
        case .read(let flight, nil):
            return try await refresh(flight, started: started, previous: nil).get()
        }
    }

    /// Reads the rows, sorts what `previous` was asked for, publishes them, answers the waiters.
    private func refresh(_ flight: Flight, started: ContinuousClock.Instant, previous: TorrentTable?) async -> Result<
        TorrentTable, StoreError
    > {
        let result: Result<TorrentTable, StoreError>
        do throws(StoreError) {
            let table = TorrentTable(rows: try await read())
            table.warm(like: previous)
            result = .success(table)
        } catch {
            result = .failure(error)
        }
        let took = now() - started
        state.withLock { s in
            if case .success(let t) = result { (s.table, s.at, s.keep) = (t, started, max(minimumKeep, took * 10)) }
            s.flight = nil
        }
        flight.finish(result)
        return result
    }

    /// One read in flight and the requests waiting for it.
    final class Flight: Sendable {
        private struct State {
            var result: Result<TorrentTable, StoreError>?
            var waiting: [CheckedContinuation<Result<TorrentTable, StoreError>, Never>] = []
        }
        private let state = Locked(State())

        func result() async -> Result<TorrentTable, StoreError> {
            await withCheckedContinuation { c in
                let done = state.withLock { s -> Result<TorrentTable, StoreError>? in
                    if let r = s.result { return r }
                    s.waiting.append(c)
                    return nil
                }
                if let done { c.resume(returning: done) }
            }
        }

        func finish(_ r: Result<TorrentTable, StoreError>) {
            let waiting = state.withLock { s in
                s.result = r
                defer { s.waiting = [] }
                return s.waiting
            }
            for c in waiting { c.resume(returning: r) }
        }
    }
}
