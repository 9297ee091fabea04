public import Logging
public import NIOCore
import NIOPosix
import Synchronization
public import TrackerCore

/// A listener that could not be opened; `description` is the one line printed before exiting.
public struct ListenError: Error, CustomStringConvertible {
    public var address: ListenAddress
    public var reason: String
    public var description: String { "cannot listen on \(address): \(reason)" }
}

/// The HTTP listeners and their connections.
public final class TrackerServer: Sendable {
    private let config: SquallConfig
    private let router: TrackerRouter
    private let group: any EventLoopGroup
    private let logger: Logger
    private let listeners = Mutex<[any Channel]>([])
    private let connections = Mutex<[ObjectIdentifier: any Channel]>([:])
    private let connectionCount = Atomic<Int>(0)

    public init(config: SquallConfig, store: any PeerStore, group: any EventLoopGroup, logger: Logger) {
        self.config = config
        self.router = TrackerRouter(store: store, config: config, logger: logger)
        self.group = group
        self.logger = logger
    }

    /// Binds every configured listener; returns the bound addresses (port 0 becomes a real port).
    /// On failure, listeners already bound are closed again.
    public func start() async throws -> [SocketAddress] {
        var bound: [SocketAddress] = []
        for address in config.http.listen {
            do {
                let channel = try await bootstrap().bind(host: address.host, port: address.port).get()
                listeners.withLock { $0.append(channel) }
                if let local = channel.localAddress { bound.append(local) }
                logger.info("listening", metadata: ["http": "\(address)"])
            } catch {
                await closeListeners()
                throw ListenError(address: address, reason: Self.describe(error))
            }
        }
        return bound
    }

    /// Stops accepting, lets each connection finish the reply it is writing, then closes them,
    /// forcing any still open after `grace`.
    public func shutdown(grace: TimeAmount = .seconds(5)) async {
        await closeListeners()
        let open = connections.withLock { Array($0.values) }
        for channel in open {
            channel.eventLoop.execute { channel.pipeline.fireUserInboundEventTriggered(ShutdownRequest()) }
        }
        let deadline = NIODeadline.now() + grace
        for channel in open {
            let remaining = deadline - .now()
            let closed = channel.closeFuture
            let timeout = channel.eventLoop.scheduleTask(in: max(remaining, .zero)) { channel.close(promise: nil) }
            try? await closed.get()
            timeout.cancel()
        }
    }

    private func closeListeners() async {
        let open = listeners.withLock { l -> [any Channel] in
            defer { l.removeAll() }
            return l
        }
        for channel in open { try? await channel.close() }
    }

    private func bootstrap() -> ServerBootstrap {
        let router = router
        let limits = ConnectionLimits(
            maxHeaderBytes: config.http.maxHeaderBytes,
            idleTimeout: .seconds(Int64(config.http.idleTimeout)),
            headerTimeout: .seconds(Int64(config.http.headerTimeout))
        )
        let maxConnections = config.http.maxConnections
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [self] channel in
                let id = ObjectIdentifier(channel)
                if connectionCount.add(1, ordering: .relaxed).newValue > maxConnections {
                    connectionCount.subtract(1, ordering: .relaxed)
                    return channel.close()
                }
                connections.withLock { $0[id] = channel }
                channel.closeFuture.whenComplete { [self] _ in
                    connections.withLock { _ = $0.removeValue(forKey: id) }
                    connectionCount.subtract(1, ordering: .relaxed)
                }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(TrackerConnectionHandler(router: router, limits: limits))
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
