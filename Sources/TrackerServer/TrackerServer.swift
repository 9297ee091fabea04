public import Logging
public import NIOCore
import NIOPosix
public import TrackerCore
public import TrackerTLS

/// A listener that is accepting connections.
public struct BoundListener: Sendable {
    public let address: SocketAddress
    public let tls: Bool
    /// A `metrics.listen` listener: `/metrics`, `/health` and `/ready` only.
    public var metricsOnly = false
    /// `http://HOST:PORT/announce` or `https://...`.
    public var announceURL: String {
        let host = ListenAddress(bound: address).map(\.description) ?? "\(address)"
        return "\(tls ? "https" : "http")://\(host)/announce"
    }
}

/// A listener that could not be opened; `description` is the one line printed before exiting.
public struct ListenError: Error, CustomStringConvertible {
    public var address: ListenAddress
    public var reason: String
    public var description: String { "cannot listen on \(address): \(reason)" }
}

/// The registry's Redis could not be read at startup; `description` is the one line printed.
public struct RegistryFeedError: Error, CustomStringConvertible {
    public var description: String
}

/// The HTTP listeners and their connections.
public final class TrackerServer: Sendable {
    /// The configuration at start; `live` is the one in force (SIGHUP, `reconfigure`).
    private let config: SquallConfig
    public let live: LiveConfig
    private let store: any PeerStore
    /// What `POST /config/reload` runs (`ConfigReloadService` sets it): nil when applied, else
    /// the reason nothing changed.
    private let reloader = ReloadHook()
    private let router: TrackerRouter
    private let group: any EventLoopGroup
    private let logger: Logger
    private let listeners = Locked<[any Channel]>([])
    private let acceptors = Locked<[HTTPAcceptor]>([])
    private let sampler = Locked<RepeatedTask?>(nil)
    private let registry: ConnectionRegistry
    private let tls: (any TLSContextProvider)?
    private let bulk = BulkWork()
    /// The one task the server owns: it runs the bulk work's jobs; `shutdown` stops and awaits it.
    private let bulkRunner = Locked<Task<Void, Never>?>(nil)
    /// The site's API, in private mode.
    private let admin: AdminServer?
    private let adminBound = Locked<[SocketAddress]>([])
    /// The registry shared through Redis, in private mode with the Redis store.
    private let feed: RedisRegistryFeed?
    /// Listening sockets systemd passed (socket activation), used instead of binding.
    private let inherited: [InheritedSocket]

    /// `tls` serves the `https.listen` addresses; without it only HTTP listeners start.
    /// `privateTracker` makes it a private tracker, with the site's API on `admin.listen`.
    /// `inherited`: sockets systemd passed (see `ListenerPlan` for which listener each is).
    public init(
        config: SquallConfig, store: any PeerStore, group: any EventLoopGroup, logger: Logger, tls: (any TLSContextProvider)? = nil,
        privateTracker: PrivateTracker? = nil, inherited: [InheritedSocket] = []
    ) {
        self.inherited = inherited
        self.config = config
        self.store = store
        let live = LiveConfig(config)
        self.live = live
        self.tls = tls
        let registry = ConnectionRegistry(
            group: group, maxConnections: config.http.maxConnections, maxPerSource: config.http.maxConnectionsPerSource)
        self.router = TrackerRouter(
            store: store, config: config, live: live, logger: logger, bulk: bulk, tls: tls, privateTracker: privateTracker,
            openConnections: { registry.open.load(ordering: .relaxed) })
        self.group = group
        self.logger = logger
        self.registry = registry
        let bulk = bulk
        let feed = privateTracker.flatMap { tracker in
            config.redisOptions.map { options in
                RedisRegistryFeed(
                    options: options, tracker: tracker,
                    persist: config.privateMode.source == .api && config.privateMode.stateFile == nil, logger: logger)
            }
        }
        self.feed = feed
        let reloader = reloader
        admin = privateTracker.map { tracker in
            var api = AdminAPI(tracker: tracker, key: Array((config.admin.key ?? "").utf8), store: store, logger: logger)
            api.feed = feed
            api.reload = { reloader.run() }
            return AdminServer(api: api, settings: config.admin, group: group, bulk: bulk, logger: logger)
        }
    }

    /// Where the site's API listens (after `start`; empty for an open tracker): `HOST:PORT`, or
    /// a unix socket's path.
    public var adminAddresses: [String] {
        adminBound.withLock { $0 }.map { a in ListenAddress(bound: a)?.description ?? a.pathname ?? "\(a)" }
    }

    /// Binds every configured listener; returns the bound addresses (port 0 becomes a real port).
    /// On failure, listeners already bound are closed again.
    public func start() async throws -> [BoundListener] {
        let bulk = bulk
        bulkRunner.withLock { runner in
            if runner == nil { runner = bulk.start() }
        }
        if let feed {
            // Blocking Redis reads, on NIO's blocking pool; before any listener opens.
            do {
                try await NIOThreadPool.singleton.runIfActive { try feed.start() }
            } catch {
                await stopBulkWork()
                throw RegistryFeedError(description: "private mode: the registry's Redis: \(error)")
            }
        }
        var bound: [BoundListener] = []
        let plan = ListenerPlan.make(http: config.http.listen, https: tls == nil ? nil : config.https.listen, inherited: inherited)
        for entry in plan {
            let (address, secure) = (entry.address, entry.secure)
            do {
                if address.proxyProtocol, config.trustedProxies.isEmpty {
                    throw SocketActivationError(description: "it takes PROXY protocol headers, but trusted_proxies names no proxy")
                }
                if secure {
                    guard let tls else { throw SocketActivationError(description: "an https socket, but no certificate is configured") }
                    let bootstrap = bootstrap(tls: tls, proxyProtocol: address.proxyProtocol)
                    let channel =
                        if let socket = entry.inherited {
                            try await bootstrap.withBoundSocket(socket.descriptor).get()
                        } else {
                            try await bootstrap.bind(host: address.host, port: address.port).get()
                        }
                    listeners.withLock { $0.append(channel) }
                    if let local = channel.localAddress { bound.append(BoundListener(address: local, tls: secure)) }
                } else {
                    // Plain HTTP is accepted outside NIO's ServerSocketChannel: see HTTPAcceptor.
                    let socket = try entry.inherited.map(ListeningSocket.init(adopting:)) ?? ListeningSocket(address, backlog: Self.backlog)
                    let acceptor = HTTPAcceptor(
                        socket: socket, loops: Array(group.makeIterator()), router: router,
                        limits: limits, registry: registry, proxyProtocol: address.proxyProtocol)
                    acceptor.start()
                    acceptors.withLock { $0.append(acceptor) }
                    bound.append(BoundListener(address: acceptor.bound, tls: false))
                }
                logger.info(
                    "listening",
                    metadata: [secure ? "https" : "http": "\(address)"].merging(
                        entry.inherited.map { ["from": "systemd (\($0.name))"] } ?? [:]
                    ) { a, _ in a })
            } catch {
                await closeListeners(deadline: .now())
                await stopBulkWork()
                throw ListenError(address: entry.address, reason: Self.describe(error))
            }
        }
        for address in config.metrics.listen {
            do {
                let acceptor = HTTPAcceptor(
                    socket: try ListeningSocket(address, backlog: 64), loops: Array(group.makeIterator()), router: router, limits: limits,
                    registry: registry, metricsOnly: true)
                acceptor.start()
                acceptors.withLock { $0.append(acceptor) }
                var listener = BoundListener(address: acceptor.bound, tls: false)
                listener.metricsOnly = true
                bound.append(listener)
                logger.info("metrics listening", metadata: ["metrics": "\(address)"])
            } catch {
                await closeListeners(deadline: .now())
                await stopBulkWork()
                throw ListenError(address: address, reason: Self.describe(error))
            }
        }
        if let admin {
            do {
                let addresses = try await admin.start()
                adminBound.withLock { $0 = addresses }
                for a in adminAddresses { logger.info("site API listening", metadata: ["admin": "\(a)"]) }
            } catch {
                await admin.stop()
                await closeListeners(deadline: .now())
                await stopBulkWork()
                throw ListenError(
                    address: config.admin.listen.first ?? ListenAddress(host: config.admin.unixSocket ?? "?", port: 0),
                    reason: Self.describe(error))
            }
        }
        // Ticks whether or not the page is on (a reload may turn it on), and samples while it is.
        let (router, live) = (router, live)
        let task = group.next().scheduleRepeatedTask(initialDelay: .zero, delay: .seconds(Int64(StatsHistory.interval))) { _ in
            if live.current.config.stats.enabled { router.sampleHistory() }
        }
        sampler.withLock { $0 = task }
        return bound
    }

    /// Stops accepting, lets each connection finish the reply it is writing, then closes them,
    /// forcing any still open after `grace`.
    public func shutdown(grace: TimeAmount = .seconds(5)) async {
        sampler.withLock { $0?.cancel() }
        let deadline = NIODeadline.now() + grace
        await admin?.stop()
        feed?.stop()
        await closeListeners(deadline: deadline)
        // Before the drain: statistics still being read answer 503 at once instead of holding
        // their connections open (a Redis walk is not worth waiting for).
        await stopBulkWork()
        await registry.drain(deadline: deadline)
    }

    private func stopBulkWork() async {
        bulk.stop()
        await bulkRunner.withLock { $0 }?.value
        await bulk.shutdownPool()
    }

    /// Closes the listeners; a plain-HTTP acceptor also waits (until `deadline`) for the replies
    /// it is still answering.
    private func closeListeners(deadline: NIODeadline) async {
        let open = listeners.withLock { l -> [any Channel] in
            defer { l.removeAll() }
            return l
        }
        for channel in open { try? await channel.close() }
        let accepting = acceptors.withLock { a -> [HTTPAcceptor] in
            defer { a.removeAll() }
            return a
        }
        for acceptor in accepting { await acceptor.stop(deadline: deadline) }
    }

    private static let backlog: CInt = 4096

    private var limits: ConnectionLimits { live.current.limits }

    /// Makes the site API's `POST /config/reload` run `reload` (nil: applied; else why not).
    public func onReload(_ reload: @escaping @Sendable () -> String?) { reloader.set(reload) }

    /// The tracker's metrics (what `/metrics` shows).
    var metrics: TrackerMetrics { router.metrics }

    /// Puts `config` in force: what requests read from now on, the connection caps, and the
    /// limits of connections accepted from now on (those open keep theirs), and a peer TTL
    /// that covers a longer `announce.interval` (a shorter one keeps the longer TTL). The caller
    /// (`ConfigReloadService`) has kept every key that needs a restart.
    public func reconfigure(_ config: SquallConfig) {
        // Before the new interval is told to anyone: no peer may expire before it announces again.
        store.extendPeerTTL(to: config.announce.policy.peerTTL)
        live.replace(with: config)
        registry.setLimits(maxConnections: config.http.maxConnections, maxPerSource: config.http.maxConnectionsPerSource)
    }

    /// The HTTPS listeners' bootstrap (plain HTTP has `HTTPAcceptor`).
    private func bootstrap(tls: any TLSContextProvider, proxyProtocol: Bool) -> ServerBootstrap {
        let router = router
        let registry = registry
        let live = live
        let metrics = router.metrics
        let logger = logger
        let failed: @Sendable (String) -> Void = { reason in
            metrics.handshakeFailed()
            logger.debug("TLS handshake failed", metadata: ["reason": "\(reason)"])
        }
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: Self.backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // Accept up to 16 connections per wakeup; clients that connect per announce come in bursts.
            .serverChannelOption(.maxMessagesPerRead, value: 16)
            // No TCP_NODELAY: every reply is one write, and the client's next request acknowledges
            // it, so Nagle never holds a reply back; the setsockopt would cost a system call per
            // connection.
            .childChannelOption(.maxMessagesPerRead, value: 16)
            // A client that shuts down its side after its request still gets the reply.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                // The configuration in force at accept holds for the connection's life.
                let current = live.current
                let (limits, trusted) = (current.limits, current.config.trustedProxies)
                let handshakeTimeout = TimeAmount.seconds(Int64(current.config.https.handshakeTimeout))
                let remote = PeerAddress(channel.remoteAddress)
                if proxyProtocol, !trusted.trusts(remote) {
                    metrics.refused(.untrustedProxy)
                    return channel.close()
                }
                let source = remote.flatMap(trusted.sourceKey)
                // The handler gives the place back when it is removed.
                if let refusal = registry.admit(source) {
                    metrics.refused(refusal)
                    return channel.close()
                }
                do {
                    let machine = ConnectionStateMachine(limits: limits, acceptedAt: .now())
                    if proxyProtocol {
                        // Before TLS: a balancer sends the header ahead of the handshake.
                        try channel.pipeline.syncOperations.addHandler(
                            ProxyHeaderHandler(timeout: limits.headerTimeout, metrics: metrics))
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        TLSServerHandler(provider: tls, handshakeTimeout: handshakeTimeout, onHandshakeFailure: failed))
                    try channel.pipeline.syncOperations.addHandler(
                        TrackerConnectionHandler(router: router, registry: registry, source: source, transport: .https, machine: machine))
                    // The event loop hands out one cached succeeded future: nothing to allocate.
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    registry.release(source)
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
    }

    static func describe(_ error: any Error) -> String {
        if let io = error as? IOError {
            switch io.errnoCode {
            case EADDRINUSE: return "address already in use"
            case EACCES: return "permission denied"
            case EADDRNOTAVAIL: return "address not available on this machine"
            default: return "\(io)"
            }
        }
        return "\(error)"
    }
}
