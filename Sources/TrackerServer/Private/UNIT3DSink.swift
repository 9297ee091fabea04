public import Logging
import PrivateCore
import RedisStore
import SiteDatabase
public import TrackerCore

/// `accounting.sink = "unit3d"`: flushes into UNIT3D's tables through `UNIT3DWriter`, on NIO's
/// blocking pool (Connector/C blocks), over one connection kept between flushes and made again
/// after an error.
final class UNIT3DSink: AccountingSink {
    let url: DatabaseURL
    let writer: UNIT3DWriter
    private let session: BlockingSession<MariaDBConnection>

    init(url: DatabaseURL, instance: String, seedtimeGap: Int) {
        self.url = url
        writer = UNIT3DWriter(instance: instance, seedtimeGap: seedtimeGap)
        session = BlockingSession {
            try MariaDBConnection(
                host: url.host, port: url.port, socket: url.socket, user: url.user, password: url.password, database: url.database)
        }
    }

    func prepare(since: UInt32, limit: Int) async throws -> (sequence: UInt64, baselines: [RestoredBaseline]) {
        let writer = writer
        return try await session.run { db in
            let sequence = try writer.prepare(db)
            return (sequence, try UNIT3DLoader.baselines(db, since: since, limit: limit))
        }
    }

    func write(_ batch: FlushBatch) async throws -> Int {
        let writer = writer
        return try await session.run { db in try writer.write(batch, to: db).dropped }
    }
}

/// Why the accounting could not start; `description` is the one line printed before exiting.
public struct AccountingStartError: Error, CustomStringConvertible {
    public var description: String
}

extension Accounting {
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
                store: (store as? RedisPeerStore).map {
                    RedisAccountBaselines(store: $0, ttl: settings.tableTTL, instance: a.effectiveInstance)
                }, logger: logger)
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
        s.compactBytes = accounting.journalCompactMiB << 20
        s.peersPerAccount = max(1, privateMode.maxPeersPerUser == 0 ? 64 : privateMode.maxPeersPerUser + 5)
        return s
    }
}
