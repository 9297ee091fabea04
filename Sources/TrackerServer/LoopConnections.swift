import NIOCore
import Synchronization
import TrackerCore

/// The open connections of one event loop. Touched only on that loop, so it needs no lock.
///
/// One repeating task per loop checks every connection's deadlines once a second, instead of a
/// timer per connection: a client that connects for every announce then costs an array append
/// and a swap-remove, not a scheduled task, a cancellation and a callback.
final class LoopConnections {
    private(set) var handlers: [TrackerConnectionHandler] = []

    func add(_ h: TrackerConnectionHandler) {
        h.slot = handlers.count
        handlers.append(h)
    }

    func remove(_ h: TrackerConnectionHandler) {
        let i = h.slot
        guard i >= 0, i < handlers.count, handlers[i] === h else { return }
        let last = handlers.removeLast()
        if last !== h {
            handlers[i] = last
            last.slot = i
        }
        h.slot = -1
    }

    /// Lets each connection act on deadlines that have passed.
    func checkDeadlines() {
        let now = NIODeadline.now()
        // Iterate a copy: a connection that times out removes itself.
        for h in handlers { h.checkDeadlines(now: now) }
    }
}

/// Every event loop's `LoopConnections`, fixed when the server starts, and the admission of
/// new connections: `http.max_connections` in all, `http.max_connections_per_source` from one
/// IPv4 address or IPv6 /64.
final class ConnectionRegistry: Sendable {
    private let byLoop: [ObjectIdentifier: NIOLoopBoundBox<LoopConnections>]
    private let sweeps: Locked<[RepeatedTask]>
    /// Open connections across all loops, for `http.max_connections`.
    let open = Atomic<Int>(0)
    /// `http.max_connections` in force (a reload may change it).
    private let maxOpen: Atomic<Int>
    var maxConnections: Int { maxOpen.load(ordering: .relaxed) }
    let sources: SourceLimiter

    /// Why a new connection was closed at accept.
    enum Refusal: String, CaseIterable, Sendable {
        case maxConnections = "max_connections"
        case perSource = "per_source"
        /// A `proxy_protocol` listener takes connections from `trusted_proxies` only.
        case untrustedProxy = "untrusted_proxy"
    }

    /// Takes a place for a new connection from `source`, or says why there is none. Whoever gets
    /// nil gives the place back with `release` exactly once.
    func admit(_ source: SourceKey?) -> Refusal? {
        if open.add(1, ordering: .relaxed).newValue > maxOpen.load(ordering: .relaxed) {
            open.subtract(1, ordering: .relaxed)
            return .maxConnections
        }
        if let source, !sources.acquire(source) {
            open.subtract(1, ordering: .relaxed)
            return .perSource
        }
        return nil
    }

    func release(_ source: SourceKey?) {
        open.subtract(1, ordering: .relaxed)
        if let source { sources.release(source) }
    }

    /// New caps, from a reload: connections beyond them stay open; new ones wait for room.
    func setLimits(maxConnections: Int, maxPerSource: Int) {
        maxOpen.store(maxConnections, ordering: .relaxed)
        sources.setLimit(maxPerSource)
    }

    init(group: any EventLoopGroup, maxConnections: Int = .max, maxPerSource: Int = 0) {
        self.maxOpen = Atomic(maxConnections)
        self.sources = SourceLimiter(limit: maxPerSource)
        var byLoop: [ObjectIdentifier: NIOLoopBoundBox<LoopConnections>] = [:]
        var sweeps: [RepeatedTask] = []
        for loop in group.makeIterator() {
            let connections = NIOLoopBoundBox.makeBoxSendingValue(LoopConnections(), eventLoop: loop)
            byLoop[ObjectIdentifier(loop)] = connections
            sweeps.append(
                loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in connections.value.checkDeadlines() })
        }
        self.byLoop = byLoop
        self.sweeps = Locked(sweeps)
    }

    /// The connections of `loop`; call on that loop.
    func connections(on loop: any EventLoop) -> LoopConnections? { byLoop[ObjectIdentifier(loop)]?.value }

    /// Asks every connection to finish its reply and close; returns when all are closed or
    /// `deadline` has passed (then closes the rest).
    func drain(deadline: NIODeadline) async {
        sweeps.withLock { tasks in
            for t in tasks { t.cancel() }
            tasks.removeAll()
        }
        for (_, bound) in byLoop {
            let loop = bound.eventLoop
            let closing = try? await loop.submit { () -> [EventLoopFuture<Void>] in
                bound.value.handlers.compactMap { $0.requestShutdown() }
            }.get()
            for closed in closing ?? [] {
                let force = loop.scheduleTask(deadline: deadline) { bound.value.handlers.forEach { $0.forceClose() } }
                try? await closed.get()
                force.cancel()
            }
        }
    }
}
