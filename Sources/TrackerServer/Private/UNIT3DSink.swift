public import Logging
import NIOPosix
import PrivateCore
import RedisStore
import SiteDatabase
public import TrackerCore

/// `accounting.sink = "unit3d"`: flushes into UNIT3D's tables through `UNIT3DWriter`, on NIO's
/// blocking pool (Connector/C blocks), over one connection kept between flushes and made again
/// after an error.
final class UNIT3DSink: AccountingSink, @unchecked Sendable {
    let url: DatabaseURL
    let writer: UNIT3DWriter
    /// Touched only by `prepare` and `write`, which the accounting service calls one at a time.
    private var connection: MariaDBConnection?
    private let serial = Locked(())

    init(url: DatabaseURL, instance: String, seedtimeGap: Int) {
        self.url = url
        writer = UNIT3DWriter(instance: instance, seedtimeGap: seedtimeGap)
    }

    private func connected() throws(DatabaseError) -> MariaDBConnection {
        if let connection { return connection }
        let c = try MariaDBConnection(
            host: url.host, port: url.port, socket: url.socket, user: url.user, password: url.password, database: url.database)
        connection = c
        return c
    }

    private func run<T: Sendable>(_ body: @escaping @Sendable (MariaDBConnection) throws(DatabaseError) -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive {
            try self.serial.withLock { _ in
                do {
                    return try body(try self.connected())
                } catch {
                    self.connection = nil
                    throw error
                }
            }
        }
    }

    func prepare(since: UInt32, limit: Int) async throws -> (sequence: UInt64, baselines: [RestoredBaseline]) {
        let writer = writer
        return try await run { db throws(DatabaseError) in
            let sequence = try writer.prepare(db)
            let rows = try UNIT3DLoader.baselines(db, since: since, limit: limit)
            return (
                sequence,
                rows.map {
                    RestoredBaseline(
                        key: UserTorrent(user: $0.user, torrent: $0.torrent), peerID: $0.peerID,
                        baseline: PeerBaseline(
                            uploaded: $0.uploaded, downloaded: $0.downloaded, at: $0.updatedAt, seeder: $0.seeder, active: $0.active),
                        completed: $0.completed)
                }
            )
        }
    }

    func write(_ batch: FlushBatch) async throws -> Int {
        let writer = writer
        return try await run { db throws(DatabaseError) in try writer.write(batch, to: db).dropped }
    }
}

/// Why the accounting could not start; `description` is the one line printed before exiting.
public struct AccountingStartError: Error, CustomStringConvertible {
    public var description: String
}

extension Accounting {
    /// The `unit3d` sink on `private.database_url`, its last committed sequence and the
    /// site's `peers` rows as baselines, then the journal replayed over them.
    /// The configured sink (`accounting.sink`, not `none`), its last committed sequence (and,
    /// for `unit3d`, the site's `peers` rows as baselines), then the journal replayed over them.
    /// With the Redis store the baselines live in its Redis (shared by every instance on it).
    public static func open(_ config: SquallConfig, store: any PeerStore, logger: Logger) async throws(AccountingStartError) -> (
        Accounting, any AccountingSink
    ) {
        let a = config.accounting
        guard let dir = a.journalDirectory else { throw AccountingStartError(description: "accounting.journal_dir is required") }
        let sink: any AccountingSink
        let target: String
        switch config.accountingSink {
        case .unit3d:
            guard let url = config.privateMode.databaseURL else {
                throw AccountingStartError(description: "accounting: private.database_url is required")
            }
            sink = UNIT3DSink(url: url, instance: a.effectiveInstance, seedtimeGap: a.activePeerTTL + a.peerExpiryInterval)
            target = "\(url)"
        case .redisStream:
            guard let options = config.accountingStreamRedis else {
                throw AccountingStartError(description: "accounting.redis_url is required")
            }
            sink = RedisStreamSink(options: options, instance: a.effectiveInstance, maxLength: a.streamMaxLength)
            target = options.redacted
        case .none:
            throw AccountingStartError(description: "accounting.sink is \"none\"")
        }
        let settings = config.accountingRuntime
        let prepared: (sequence: UInt64, baselines: [RestoredBaseline])
        do {
            prepared = try await sink.prepare(since: systemUnixNow() &- settings.tableTTL, limit: settings.capacity)
        } catch {
            throw AccountingStartError(description: "accounting.sink = \"\(config.accountingSink.rawValue)\" (\(target)): \(error)")
        }
        do {
            let accounting = try Accounting(
                settings: settings, directory: dir, committed: prepared.sequence, baselines: prepared.baselines,
                store: (store as? RedisPeerStore).map { RedisAccountBaselines(store: $0, ttl: settings.tableTTL) }, logger: logger)
            return (accounting, sink)
        } catch {
            throw AccountingStartError(description: "accounting.journal_dir: \(error)")
        }
    }
}

extension SquallConfig {
    /// The accounting's settings from `[accounting]` and `[private]`.
    public var accountingRuntime: Accounting.Settings {
        var s = Accounting.Settings()
        s.factors = accounting.factors
        s.dedupWindow = UInt32(clamping: privateMode.dedupWindow)
        s.activeTTL = UInt32(clamping: accounting.activePeerTTL)
        s.tableTTL = UInt32(clamping: accounting.inactivePeerTTL)
        s.capacity = accounting.maxAccounts
        s.peersPerAccount = max(1, privateMode.maxPeersPerUser == 0 ? 64 : privateMode.maxPeersPerUser + 5)
        return s
    }
}
