import Foundation
import Testing
import TrackerCore
import TrackerProtocol
import TrackerServer
import TrackerTestSupport

/// Several Squall instances on one Redis share one registry: a change made through any
/// instance's API is seen by announces on every other within a second, and an instance that
/// starts late loads the current state.
@Suite struct RegistryFeedTests {
    typealias P = PrivateModeTests

    static func configure(_ redis: RedisServer) -> (inout SquallConfig) -> Void {
        { c in
            P.configure(&c)
            c.storage = "redis://127.0.0.1:\(redis.port)"
        }
    }

    /// Polls `check` on `t`'s announces for up to `limit`; returns how long it took, nil if never.
    static func within(_ limit: Duration, _ check: () throws -> Bool) throws -> Duration? {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < limit {
            if try check() { return ContinuousClock.now - start }
            usleep(10_000)
        }
        return nil
    }

    @Test func anAPIChangeOnOneInstanceReachesTheOthersWithinASecond() async throws {
        let redis = try RedisServer()
        try await withRunningTracker(Self.configure(redis)) { a in
            try await withRunningTracker(Self.configure(redis)) { b in
                try P.seed(a)
                let seen = try Self.within(.seconds(1)) { P.failure(try P.announce(b, user: 1)) == nil }
                #expect(seen != nil, "an announce on B used A's registry within a second")
                // A ban through B reaches A.
                try P.put(
                    b, "users",
                    #"{"id":1,"group_id":5,"passkey":"\#(P.passkey(1))","new_passkey":null,"can_download":true,"num_seeding":0,"num_leeching":0,"is_donor":false,"is_lifetime":false}"#
                )
                let banned = try Self.within(.seconds(1)) {
                    P.failure(try P.announce(a, user: 1)) == "Your account is not enabled. (Current: banned)."
                }
                #expect(banned != nil)
                // The instance that took the call answers only once it applied the change.
                #expect(P.failure(try P.announce(b, user: 1)) == "Your account is not enabled. (Current: banned).")
                // A torrent deleted through A: refused at once there, within a second on B.
                #expect(try a.admin("DELETE", "/announce/\(P.apiKey)/torrents", #"{"id":6}"#).status == 200)
                #expect(P.failure(try P.announce(a, user: 2, torrent: 6)) == "Torrent has been deleted.")
                #expect(
                    try Self.within(.seconds(1)) { P.failure(try P.announce(b, user: 2, torrent: 6)) == "Torrent has been deleted." } != nil
                )
                // An instance that starts late loads the current registry before it serves.
                try await withRunningTracker(Self.configure(redis)) { (c) async throws in
                    #expect(P.failure(try P.announce(c, user: 1)) == "Your account is not enabled. (Current: banned).")
                    #expect(P.failure(try P.announce(c, user: 2, torrent: 6)) == "Torrent has been deleted.")
                    #expect(P.failure(try P.announce(c, user: 2)) == nil)
                }
            }
        }
    }

    @Test func theSiteIsToldToRetryWhileRedisIsDown() async throws {
        let redis = try RedisServer()
        try await withRunningTracker(Self.configure(redis)) { t in
            try P.seed(t)
            redis.stop()
            let r = try t.admin("PUT", "/announce/\(P.apiKey)/personal-freeleech", #"{"user_id":1}"#)
            #expect(r.status == 503)
            // Announces go on from the registry in memory.
            #expect(P.failure(try P.announce(t, user: 1)) == nil)
            try redis.restart()
            // A fresh Redis: the call lands again once it is back.
            let back = try Self.within(.seconds(10)) {
                try t.admin("PUT", "/announce/\(P.apiKey)/personal-freeleech", #"{"user_id":1}"#).status == 200
            }
            #expect(back != nil)
        }
    }
}
