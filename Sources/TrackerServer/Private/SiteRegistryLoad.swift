import NIOPosix
public import PrivateCore
import SiteDatabase

/// Why the registry could not be loaded from the site's database; `description` is the one line
/// printed before exiting (the URL shown without its password).
public struct SiteLoadError: Error, CustomStringConvertible {
    public var description: String
}

extension PrivateTracker {
    /// Loads the registry from UNIT3D's tables at `url`, on a thread of NIO's blocking pool
    /// (Connector/C blocks), never on an event loop.
    public static func loadUNIT3D(_ url: DatabaseURL) async throws(SiteLoadError) -> Registry {
        do {
            return try await NIOThreadPool.singleton.runIfActive {
                let db = try MariaDBConnection(
                    host: url.host, port: url.port, socket: url.socket, user: url.user, password: url.password, database: url.database)
                return try UNIT3DLoader.load(from: db)
            }
        } catch {
            throw SiteLoadError(description: "private.database_url (\(url)): \(error)")
        }
    }
}
