public import Logging
public import ServiceLifecycle
public import TrackerCore

/// Keeps a started `TrackerServer` serving until graceful shutdown, then drains its connections.
/// Listeners are bound before the service group starts, so a bad address fails startup with one
/// clear line instead of a service-group error. "ready" is logged from here, once the service
/// group has registered its signal handlers, so a SIGTERM right after "ready" is graceful.
/// systemd hears `READY=1` at the same moment and `STOPPING=1` when the drain begins.
public struct TrackerService: Service {
    let server: TrackerServer
    let logger: Logger
    let ready: Logger.Metadata
    let notifier: SystemdNotifier?
    /// Runs once the connections have drained (the memory store's snapshot).
    let afterDrain: (@Sendable () -> Void)?

    public init(
        server: TrackerServer, logger: Logger, ready: Logger.Metadata, notifier: SystemdNotifier? = nil,
        afterDrain: (@Sendable () -> Void)? = nil
    ) {
        (self.server, self.logger, self.ready, self.notifier, self.afterDrain) = (server, logger, ready, notifier, afterDrain)
    }

    public func run() async throws {
        logger.info("ready", metadata: ready)
        notifier?.notify("READY=1\nSTATUS=serving")
        try? await gracefulShutdown()
        notifier?.notify("STOPPING=1\nSTATUS=draining connections")
        logger.info("shutting down: draining connections")
        await server.shutdown()
        afterDrain?()
    }
}

/// Calls the store's `expire` on a fixed period, so peers that stop announcing disappear even
/// from torrents nobody touches.
public struct ExpiryService: Service {
    let store: any PeerStore
    let period: Duration
    let logger: Logger

    public init(store: any PeerStore, period: Duration, logger: Logger) {
        (self.store, self.period, self.logger) = (store, period, logger)
    }

    public func run() async throws {
        // Ends as soon as shutdown begins: a sweep in progress is not worth waiting for.
        try? await cancelWhenGracefulShutdown {
            while true {
                try await Task.sleep(for: period)
                do {
                    let removed = try await store.expire()
                    if removed > 0 { logger.debug("expired peers", metadata: ["count": "\(removed)"]) }
                } catch {
                    logger.warning("expiry failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
