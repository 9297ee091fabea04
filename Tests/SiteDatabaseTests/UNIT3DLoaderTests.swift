import PrivateCore
import SiteDatabase
import Testing
import TrackerCore
import TrackerTestSupport

/// The startup load against a real MariaDB holding UNIT3D's schema and the fixture's
/// `seed-minimal.sql`: what `unit3d-contract.md` §3 says UNIT3D-Announce loads, row by row.
@Suite struct UNIT3DLoaderTests {
    static func passkey(_ n: Int) -> Passkey { Passkey(String(repeating: "a", count: 30) + (n < 10 ? "0\(n)" : "\(n)"))! }
    static func hash(_ b: UInt8) -> InfoHash { InfoHash([UInt8](repeating: b, count: 20))! }

    static func connect(_ server: MariaDBServer, socket: Bool = false) throws -> MariaDBConnection {
        try MariaDBConnection(
            host: "127.0.0.1", port: server.port, socket: socket ? server.socket : nil, user: MariaDBServer.user,
            password: MariaDBServer.password, database: MariaDBServer.database)
    }

    @Test func loadsTheSeedAsUnit3dAnnounceDoes() throws {
        let server = try MariaDBServer()
        try server.loadUNIT3DFixture()
        let r = try UNIT3DLoader.load(from: try Self.connect(server))
        // Users: every one not soft-deleted (user 5 is), each by its passkey, with its peer counts.
        #expect(Set(r.users.keys) == [1, 2, 3, 4, 6, 7, 8, 9, 10])
        #expect(r.user(passkey: Self.passkey(1))?.id == 1)
        #expect(r.user(passkey: Self.passkey(5)) == nil)
        #expect(r.users[4]?.canDownload == false && r.users[6]?.isDonor == true && r.users[7]?.isLifetime == true)
        #expect(r.users[1]?.numSeeding == 1 && r.users[1]?.numLeeching == 0)
        #expect(r.users[3]?.numSeeding == 0 && r.users[3]?.numLeeching == 1)
        #expect(r.users[6]?.numLeeching == 0, "user 6's peer is inactive")
        #expect(r.users[9]?.groupID == 15)
        // Torrents: one per info_hash (torrent 8 repeats torrent 1's; 1 is kept), deleted ones kept
        // and flagged, factors from free and doubleup.
        #expect(r.torrent(hash: Self.hash(1))?.id == 1)
        #expect(r.torrents[8] == nil)
        #expect(r.torrent(hash: Self.hash(2))?.status == .pending)
        #expect(r.torrent(hash: Self.hash(3))?.status == .rejected)
        #expect(r.torrent(hash: Self.hash(4))?.status == .postponed)
        #expect(r.torrent(hash: Self.hash(5))?.isDeleted == true)
        #expect(r.torrent(hash: Self.hash(6))?.downloadFactor == 0 && r.torrent(hash: Self.hash(6))?.uploadFactor == 200)
        #expect(r.torrent(hash: Self.hash(7))?.downloadFactor == 50)
        // Groups, with slots where set.
        #expect(r.groups[15] == PrivateGroup(id: 15, slug: "leech", downloadSlots: 1))
        #expect(r.groups[19] == PrivateGroup(id: 19, slug: "internal", isImmune: true, isFreeleech: true, isDoubleUpload: true))
        #expect(r.groups[5]?.isEnabled == false)
        // The lists.
        #expect(r.isBlacklisted(PeerID(Array("-BC0100-000000000000".utf8))!))
        #expect(r.freeleechTokens == [UserTorrent(user: 2, torrent: 1)])
        #expect(r.personalFreeleech == [3])
        #expect(r.featuredTorrents == [9])
        // Over the unix socket too.
        #expect(try UNIT3DLoader.load(from: try Self.connect(server, socket: true)).users.count == 9)
    }

    @Test func aShortPasskeyStopsTheLoadAndALongOneIsCut() throws {
        let server = try MariaDBServer()
        try server.loadUNIT3DFixture()
        try server.sql("UPDATE users SET passkey = CONCAT(passkey, 'tail') WHERE id = 2")
        let r = try UNIT3DLoader.load(from: try Self.connect(server))
        #expect(r.user(passkey: Self.passkey(2))?.id == 2)
        try server.sql("UPDATE users SET passkey = 'short' WHERE id = 3")
        #expect(throws: UNIT3DLoader.Failure.self) { try UNIT3DLoader.load(from: try Self.connect(server)) }
    }

    @Test func aWrongPasswordFailsWithoutShowingIt() throws {
        let server = try MariaDBServer()
        do {
            _ = try MariaDBConnection(
                host: "127.0.0.1", port: server.port, socket: nil, user: MariaDBServer.user, password: "wrong-secret-123",
                database: MariaDBServer.database)
            Issue.record("connected with a wrong password")
        } catch {
            #expect(error.code == 1045)
            #expect(!error.description.contains("wrong-secret-123"))
        }
    }

    @Test func sessionsAreUTC() throws {
        let server = try MariaDBServer()
        let rows = try Self.connect(server).query("SELECT @@session.time_zone, FIND_IN_SET('PIPES_AS_CONCAT', @@session.sql_mode) > 0")
        #expect(rows.first?.map { String(decoding: $0 ?? [], as: UTF8.self) } == ["+00:00", "1"])
    }
}
