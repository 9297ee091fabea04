import ArgumentParser
import Foundation
import Logging
import MemoryStore
import NIOCore
import NIOPosix
import RedisStore
import ServiceLifecycle
import TrackerCore
import TrackerServer
import TrackerTLS

@main
struct Squall: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "squall",
        abstract: "An HTTP(S) BitTorrent tracker.",
        version: TrackerRouter.version,
        subcommands: [Serve.self, CheckConfig.self],
        defaultSubcommand: Serve.self
    )

    /// One line on standard error, exit status 1.
    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("squall: \(message)\n".utf8))
        Foundation.exit(1)
    }
}

extension SquallConfig {
    /// The certificates startup loads and matches to their keys: when HTTPS listens or
    /// certificates are given (a socket systemd passes may be HTTPS); nil otherwise.
    fileprivate func loadCertificates() throws -> ReloadableTLSContexts? {
        guard !https.listen.isEmpty || !https.certificates.isEmpty else { return nil }
        return try ReloadableTLSContexts(pairs: https.certificateFiles)
    }
}

/// The file and flags that make the configuration, shared by every subcommand.
struct ConfigOptions: ParsableArguments {
    /// Read when `--config` is not given and it exists (where the Debian package installs it).
    static let defaultFile = "/etc/squall/squall.toml"

    @Option(help: "A TOML config file (see Config/squall.toml). Default: /etc/squall/squall.toml when it exists.")
    var config: String?

    @Option(name: .customLong("http"), help: "ADDR:PORT to serve HTTP on; repeatable. Default [::]:6969 (IPv4 and IPv6).")
    var http: [String] = []

    @Option(name: .customLong("https"), help: "ADDR:PORT to serve HTTPS on; repeatable. Needs --tls-cert and --tls-key.")
    var https: [String] = []

    @Option(
        name: .customLong("tls-cert"),
        help: "PEM certificate chain for HTTPS; repeatable, paired in order with --tls-key (the others are chosen by SNI).")
    var tlsCert: [String] = []

    @Option(name: .customLong("tls-key"), help: "PEM private key (PKCS#1, SEC1 or PKCS#8) for the --tls-cert in the same position.")
    var tlsKey: [String] = []

    @Option(help: "Where swarms live: memory, redis://[user:password@]host:port[/db] or unix:///path/redis.sock[?db=N].")
    var storage: String?

    @Option(name: .customLong("announce-interval"), help: "Seconds between announces (default 1800).")
    var announceInterval: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String?

    /// The configuration the file and flags make; exits with status 1 and the one line naming
    /// what is wrong (what every subcommand does at start).
    func resolveOrExit() -> SquallConfig {
        do {
            return try resolve()
        } catch {
            Squall.fail("\(error)")
        }
    }

    /// The configuration the file and flags make, or the one line naming what is wrong.
    func resolve(defaultFile: String? = Self.defaultFile) throws(ConfigError) -> SquallConfig {
        var overrides = ConfigOverrides()
        overrides.http = http
        overrides.https = https
        overrides.tlsCerts = tlsCert
        overrides.tlsKeys = tlsKey
        overrides.storage = storage
        overrides.announceInterval = announceInterval
        overrides.logLevel = logLevel
        var text: String?
        let file = config ?? defaultFile.flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil }
        if let file {
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw ConfigError(key: "--config", "cannot read \(file)")
            }
        }
        return try SquallConfig.resolve(fileText: text, fileName: file ?? "config", overrides: overrides)
    }
}

/// `squall check-config`: everything startup does but bind (parse, validate, load and match
/// every certificate, and with `--storage-check` reach Redis), like `nginx -t`; the unit runs
/// it before start and reload. Exit 0, or 1 with startup's one-line message.
struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Check the configuration and certificates without serving; exit 0 or 1.")

    @OptionGroup var options: ConfigOptions

    @Flag(name: .customLong("storage-check"), help: "Also connect to Redis (address, password, database) as startup does.")
    var storageCheck = false

    func run() async throws {
        let settings = options.resolveOrExit()
        do {
            _ = try settings.loadCertificates()
        } catch {
            Squall.fail("\(error)")
        }
        if storageCheck, let redis = settings.redisOptions {
            do {
                try RedisPeerStore.check(redis)
            } catch {
                Squall.fail("storage: \(error)")
            }
        }
        print(
            "squall: configuration OK (\(options.config ?? (FileManager.default.fileExists(atPath: ConfigOptions.defaultFile) ? ConfigOptions.defaultFile : "defaults and flags")))"
        )
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve announces and scrapes (the default).")

    @OptionGroup var options: ConfigOptions

    @Flag(name: .customLong("print-config"), help: "Print the effective configuration as TOML and exit.")
    var printConfig = false

    func run() async throws {
        var settings = options.resolveOrExit()
        if printConfig {
            print(settings.toml, terminator: "")
            return
        }

        // The level is LiveLogLevel's, which a reload changes for every logger at once.
        LiveLogLevel.shared.level = Logger.Level(rawValue: settings.logLevel) ?? .info
        let format = settings.logFormat.resolved()
        LoggingSystem.bootstrap { label in
            LiveLevelLogHandler(
                format == .text ? StreamLogHandler.standardError(label: label) : FormattedLogHandler(label: label, format: format))
        }
        let logger = Logger(label: "squall")
        // The same clamp at start and at each reload (http.max_connections is live).
        let fileLimit = FileLimit.raiseToHard()
        let reserve = FileLimit.reserve(for: settings)
        let clampConnections: @Sendable (inout SquallConfig) -> Void = { config in
            guard let fileLimit else { return }
            let wanted = config.http.maxConnections
            let fits = FileLimit.connections(wanted: wanted, reserve: reserve, limit: fileLimit)
            if fits < wanted {
                logger.warning(
                    "the open-file limit is too low for http.max_connections; serving fewer connections",
                    metadata: ["open_files": "\(fileLimit)", "max_connections": "\(fits)", "configured": "\(wanted)"])
                config.http.maxConnections = fits
            }
        }
        clampConnections(&settings)
        let policy = settings.announce.policy
        // One group for the server and the Redis connections: an announce stays on its loop.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: settings.http.effectiveThreads)
        let store: any PeerStore
        if let redis = settings.redisOptions {
            // One blocking check before serving: a bad URL, password or database stops here.
            do {
                try RedisPeerStore.check(redis)
            } catch {
                fail("storage: \(error)")
            }
            store = RedisPeerStore(
                options: redis, group: group, peerTTL: policy.peerTTL, maxPeersPerTorrent: settings.memory.maxPeersPerTorrent,
                maxTorrents: settings.memory.maxTorrents, maxPeers: settings.memory.maxPeers, logger: logger)
        } else {
            let memory = MemoryPeerStore(peerTTL: policy.peerTTL, limits: settings.memory.limits)
            if let path = settings.memory.snapshotFile, FileManager.default.fileExists(atPath: path) {
                // A damaged snapshot costs the swarms it held, not the start.
                do {
                    let r = try memory.loadSnapshot(from: path)
                    logger.info(
                        "swarms restored", metadata: ["torrents": "\(r.torrents)", "peers": "\(r.peers)", "expired": "\(r.dropped)"])
                } catch {
                    logger.warning("swarms not restored", metadata: ["error": "\(error)"])
                }
                // Read once: a later crash must not bring back peers that have left since.
                unlink(path)
            }
            store = memory
        }
        let tls: ReloadableTLSContexts?
        do {
            tls = try settings.loadCertificates()
        } catch {
            fail("\(error)")
        }
        if let tls { logCertificates(tls.current, logger: logger, event: "certificate loaded") }
        var privateTracker: PrivateTracker?
        var accounting: (Accounting, any AccountingSink)?
        if settings.accountingSink != .none {
            do {
                accounting = try await Accounting.open(settings, store: store, logger: logger)
            } catch {
                fail("\(error)")
            }
        }
        if settings.privateMode.enabled {
            switch settings.privateMode.source {
            case .unit3d:
                // Everything is loaded before any listener opens, as UNIT3D-Announce does.
                do {
                    let registry = try await PrivateTracker.loadUNIT3D(settings.privateMode.databaseURL!)
                    privateTracker = PrivateTracker(settings: settings.privateMode, registry: registry, accounting: accounting?.0)
                } catch {
                    fail("\(error)")
                }
            case .api:
                if let path = settings.privateMode.stateFile {
                    do {
                        privateTracker = try PrivateTracker(settings: settings.privateMode, stateFile: path, accounting: accounting?.0)
                    } catch {
                        fail("\(error)")
                    }
                } else {
                    privateTracker = PrivateTracker(settings: settings.privateMode, accounting: accounting?.0)
                    if settings.redisOptions == nil {
                        logger.warning("private.state_file is not set: the site's registry is kept in memory only and is lost on restart")
                    }
                }
            }
            let counts = privateTracker!.read { $0.counts }
            logger.info(
                "private tracker",
                metadata: [
                    "source": "\(settings.privateMode.source.rawValue)", "users": "\(counts.users)", "torrents": "\(counts.torrents)",
                    "groups": "\(counts.groups)",
                ])
        }
        // Sockets systemd holds for us (socket activation) stand in for binding.
        let inherited: [InheritedSocket]
        do {
            inherited = try InheritedSocket.take() ?? []
        } catch {
            fail("\(error)")
        }
        let server = TrackerServer(
            config: settings, store: store, group: group, logger: logger, tls: tls, privateTracker: privateTracker, inherited: inherited)
        let ready: Logger.Metadata
        do {
            let addresses = try await server.start()
            let urls = addresses.filter { !$0.metricsOnly }.map(\.announceURL)
            let metrics = addresses.filter(\.metricsOnly).compactMap { ListenAddress(bound: $0.address)?.description }
            ready = ["announce": "\(urls.joined(separator: " "))", "store": "\(store.kind.rawValue)"]
                .merging(metrics.isEmpty ? [:] : ["metrics": "\(metrics.joined(separator: " "))"]) { a, _ in a }
                .merging(server.adminAddresses.isEmpty ? [:] : ["admin": "\(server.adminAddresses.joined(separator: " "))"]) { a, _ in a }
        } catch {
            try? await group.shutdownGracefully()
            fail("\(error)")
        }
        // The accounting comes first: services stop in reverse order, so it flushes last, after
        // the tracker has drained and no announce can come.
        let accountingServices: [ServiceGroupConfiguration.ServiceConfiguration] =
            accounting.map { (a, sink) in
                [
                    .init(
                        service: AccountingService(
                            accounting: a, sink: sink, tracker: privateTracker!, store: store,
                            flushEvery: .milliseconds(settings.accounting.flushMilliseconds),
                            syncEvery: .milliseconds(settings.accounting.fsyncMilliseconds), logger: logger))
                ]
            } ?? []
        let reloader = ConfigReloadService(
            server: server, tls: tls, resolve: { [options] in try options.resolve() }, adjust: clampConnections, logger: logger)
        // The site's POST /config/reload runs the same reload as SIGHUP.
        server.onReload { reloader.reload() }
        let services = ServiceGroup(
            configuration: .init(
                services: accountingServices + [
                    .init(
                        service: TrackerService(
                            server: server, logger: logger, ready: ready, notifier: SystemdNotifier(),
                            afterDrain: snapshotOnStop(store: store, path: settings.memory.snapshotFile, logger: logger))),
                    .init(service: ExpiryService(store: store, period: .seconds(min(60, max(1, policy.peerTTL / 4))), logger: logger)),
                    .init(service: reloader),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await services.run()
        try await group.shutdownGracefully()
        logger.info("stopped")
    }

    private func fail(_ message: String) -> Never { Squall.fail(message) }

    /// Writes the memory store's swarms to `path` after the drain, when both are there.
    private func snapshotOnStop(store: any PeerStore, path: String?, logger: Logger) -> (@Sendable () -> Void)? {
        guard let memory = store as? MemoryPeerStore, let path else { return nil }
        return {
            do {
                let r = try memory.writeSnapshot(to: path)
                logger.info("swarms saved", metadata: ["torrents": "\(r.torrents)", "peers": "\(r.peers)", "file": "\(path)"])
            } catch {
                logger.error("swarms not saved", metadata: ["error": "\(error)"])
            }
        }
    }
}
