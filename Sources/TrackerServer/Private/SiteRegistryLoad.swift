import NIOPosix
public import PrivateCore
import SiteDatabase

extension DatabaseURL {
    var endpoint: DatabaseEndpoint {
        DatabaseEndpoint(host: host, port: port, socket: socket, user: user, password: password, database: database)
    }
}

/// Why the registry could not be loaded from the site's database; `description` is the one line
/// printed before exiting (the URL shown without its password).
public struct SiteLoadError: Error, CustomStringConvertible {
    public var description: String
}

extension PrivateTracker {
    /// Loads the registry from UNIT3D's tables at `url`, on a thread of NIO's blocking pool
    /// (Connector/C blocks), never on an event loop.
    public static func loadUNIT3D(_ url: DatabaseURL) async throws(SiteLoadError) -> Registry {
        let endpoint = url.endpoint
        do {
            return try await NIOThreadPool.singleton.runIfActive {
                let db = try MariaDBConnection(endpoint)
                return try UNIT3DLoader.load(from: db)
            }
        } catch {
            throw SiteLoadError(description: "private.database_url (\(url)): \(error)")
        }
    }
}
