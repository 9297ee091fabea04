public import Logging
public import ServiceLifecycle
import TrackerCore
public import TrackerTLS
import UnixSignals

#if canImport(Glibc)
    import Glibc
#endif

/// Reloads the whole configuration on SIGHUP (systemd's `ExecReload`). The file, the
/// environment and the flags are read again exactly as at start; then
/// - a configuration that does not load (a bad key or value, an unreadable file, a certificate
///   that does not load or match its key) logs one error line and changes nothing;
/// - keys that can change live (`log_level`, `trusted_proxies`, `announce.*`, `scrape.*`, who
///   may read the statistics, the connection limits and timeouts, the certificates) are in
///   force for the next request and the next connection;
/// - keys that only a restart applies (listen addresses, storage, Redis, threads, the memory
///   store's limits, private mode, accounting...) keep their running values, and one warning
///   line names those the file changed.
/// Connections already open, the listeners and the swarms are untouched. Runs in its own task,
/// never on an event loop.
public final class ConfigReloadService: Service, Sendable {
    let server: TrackerServer
    let tls: ReloadableTLSContexts?
    /// The file, environment and flags, read as at start.
    let resolve: @Sendable () throws -> SquallConfig
    /// What the configuration becomes before it is put in force (the open-file clamp).
    let adjust: @Sendable (inout SquallConfig) -> Void
    let logger: Logger
    /// One reload at a time (SIGHUP and the site's `POST /config/reload` may meet).
    private let serial = Locked(())

    public init(
        server: TrackerServer, tls: ReloadableTLSContexts?, resolve: @escaping @Sendable () throws -> SquallConfig,
        adjust: @escaping @Sendable (inout SquallConfig) -> Void = { _ in }, logger: Logger
    ) {
        (self.server, self.tls, self.resolve, self.adjust, self.logger) = (server, tls, resolve, adjust, logger)
    }

    public func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in hangups { self.reload() }
        }
    }

    /// One reload, as SIGHUP triggers it; nil when it was applied, else why nothing changed.
    @discardableResult
    public func reload() -> String? {
        serial.withLock { _ in reloadOnce() }
    }

    private func reloadOnce() -> String? {
        let running = server.live.current.config
        var next: SquallConfig
        let live: [String]
        let restart: [String]
        do {
            (next, live, restart) = running.reloaded(from: try resolve())
            adjust(&next)
            if let tls {
                // Loaded and matched before anything changes; in force only with the rest.
                let fresh = try tls.reload(pairs: next.https.certificateFiles)
                logCertificates(fresh, logger: logger, event: "certificates reloaded")
            }
        } catch {
            logger.error("configuration reload failed, nothing changed", metadata: ["reason": "\(error)"])
            server.metrics.reloaded(applied: false)
            return "\(error)"
        }
        server.reconfigure(next)
        server.metrics.reloaded(applied: true)
        if let level = Logger.Level(rawValue: next.logLevel) { LiveLogLevel.shared.level = level }
        logger.info("configuration reloaded", metadata: ["changed": "\(live.isEmpty ? "nothing" : live.joined(separator: " "))"])
        if !restart.isEmpty {
            logger.warning(
                "configuration keys need a restart, keeping their running values", metadata: ["keys": "\(restart.joined(separator: " "))"])
        }
        return nil
    }
}

/// A reload to run on request, set once the reload service exists.
final class ReloadHook: Sendable {
    private let hook = Locked<(@Sendable () -> String?)?>(nil)

    func set(_ reload: @escaping @Sendable () -> String?) { hook.withLock { $0 = reload } }

    /// The reload's answer (nil inside: applied), or nil when none is set.
    func run() -> String?? { hook.withLock { $0 }.map { $0() } }
}

/// One info line per certificate: file, subject, SANs, serial and expiry.
public func logCertificates(_ set: TLSContextSet, logger: Logger, event: String) {
    let now = Int(time(nil))
    for c in set.contexts {
        logger.info(
            "\(event)",
            metadata: [
                "certificate": "\(c.certificateFile)", "subject": "\(c.subject)",
                "san": "\(c.alternativeNames.joined(separator: ", "))", "serial": "\(c.serial)",
                "expires_in_days": "\((c.notAfter - now) / 86_400)",
            ])
    }
}
