import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Work an event loop must never do: the statistics (a walk over every torrent and its sorts),
/// `/health` and `/metrics`, which wait on the store's bulk verbs. Jobs run as child tasks of one
/// task group, on a thread pool of their own (a task executor over `NIOThreadPool`), so a walk of
/// 100,000 torrents never holds up an announce on a loop or an acceptor thread.
///
/// The pool's threads run at nice 5: on a busy machine the loops come first.
///
/// Bounded: at most `limit` jobs are queued or running; `submit` refuses the next (the caller
/// answers 503). `stop()` ends it: jobs still queued run cancelled (the store's bulk verbs throw
/// `StoreError.cancelled` at once) and running ones are cancelled, so every request is answered
/// and shutdown never waits for a long Redis walk.
final class BulkWork: Sendable {
    typealias Job = @Sendable () async -> Void

    let limit: Int
    private let pool: NIOThreadPool
    private let executor: PoolExecutor
    private let jobs: AsyncStream<Job>
    private let submitted: AsyncStream<Job>.Continuation
    private let pending = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)

    init(threads: Int = 2, limit: Int = 256) {
        self.limit = limit
        pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
        Self.lowerPriority(of: pool, threads: threads)
        executor = PoolExecutor(pool: pool)
        (jobs, submitted) = AsyncStream.makeStream(of: Job.self, bufferingPolicy: .unbounded)
    }

    /// Sets nice 5 on each of the pool's threads: one item each, held until all have started
    /// (on Linux a thread's nice value is its own).
    private static func lowerPriority(of pool: NIOThreadPool, threads: Int) {
        final class Count: Sendable { let n = Atomic<Int>(0) }
        let started = Count()
        for _ in 0..<threads {
            pool.submit { _ in
                _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 5)
                started.n.add(1, ordering: .relaxed)
                while started.n.load(ordering: .relaxed) < threads { sched_yield() }
            }
        }
    }

    /// Queues `job`; false (and `job` never runs) when `limit` jobs are queued or running or
    /// the work has stopped.
    func submit(_ job: @escaping Job) -> Bool {
        guard !stopping.load(ordering: .relaxed) else { return false }
        guard pending.wrappingAdd(1, ordering: .relaxed).newValue <= limit else {
            pending.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        guard case .enqueued = submitted.yield(job) else {
            pending.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    /// Jobs queued or running now.
    var load: Int { pending.load(ordering: .relaxed) }

    /// Starts a task that runs the jobs until `stop()`; its value is ready once every job has
    /// finished. The task, too, runs on the pool: no job waits for a thread of Swift's shared
    /// pool (which blocking code elsewhere in the process may hold).
    func start() -> Task<Void, Never> {
        Task(executorPreference: executor) { [self] in await run() }
    }

    /// Runs the jobs until `stop()`; returns once every job has finished.
    func run() async {
        await withDiscardingTaskGroup { group in
            for await job in jobs {
                if stopping.load(ordering: .relaxed) { group.cancelAll() }
                group.addTask(executorPreference: executor) { [self] in
                    await job()
                    pending.wrappingSubtract(1, ordering: .relaxed)
                }
            }
            group.cancelAll()
        }
    }

    /// Refuses new jobs, cancels the running and queued ones; `run()` then returns.
    func stop() {
        stopping.store(true, ordering: .relaxed)
        submitted.finish()
    }

    /// Stops the pool's threads (after `run()` has returned).
    func shutdownPool() async {
        try? await pool.shutdownGracefully()
    }
}

/// Runs tasks' jobs on an `NIOThreadPool`'s threads.
private final class PoolExecutor: TaskExecutor {
    let pool: NIOThreadPool
    init(pool: NIOThreadPool) { self.pool = pool }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        // A stopped pool calls the item at once with `.cancelled`: the job still runs, so the
        // task it belongs to finishes.
        pool.submit { _ in job.runSynchronously(on: executor) }
    }
}
