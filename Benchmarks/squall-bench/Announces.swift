import PrivateCore
import TrackerCore
import TrackerProtocol
import TrackerServer

/// The target the load generator sends for pool peer `j` of torrent `k`, written by
/// `AnnounceRequest.query` (hash and peer_id every byte `%XX`, with a key), plus two
/// parameters real clients send that the tracker reads past.
/// With `users`, the peer announces at its user's passkey URL (`/announce/PASSKEY`).
func announceTarget(path: String, pool: Pool, torrent k: Int, peer j: Int, event: AnnounceEvent = .none, users: Int = 0) -> String {
    let path = users > 0 ? path + "/" + Pool.passkey(user: Pool.user(torrent: k, peer: j, users: users)) : path
    let request = AnnounceRequest(
        infoHash: InfoHash(pool.hashes[k])!, peerID: PeerID(Pool.peerID(torrent: k, peer: j))!, port: UInt16(10000 + j),
        left: Pool.isSeed(peer: j) ? 0 : 1_000_000, event: event, numwant: 50, noPeerID: true)
    return "\(path)?" + request.query(key: Array("5A5A5A5A".utf8), everyByte: true) + "&corrupt=0&supportcrypto=1"
}

/// Every peer of the pool announces once (`event=started`), so all trackers start measured
/// runs with the same swarms.
func preload(url: String, pool: Pool, users: Int = 0) throws {
    let client = try BenchClient(url: url)
    let path = String(url.drop { $0 != "/" }.dropFirst(2).drop { $0 != "/" })
    var failures = 0
    for k in pool.sizes.indices {
        for j in 0..<pool.sizes[k] {
            let r = try client.get(announceTarget(path: path, pool: pool, torrent: k, peer: j, event: .started, users: users))
            if r.status != 200 || (try? BencodeValue.decode(r.body))?["failure reason"] != nil { failures += 1 }
        }
    }
    print("preloaded \(pool.peerCount) peers into \(url) (\(failures) failures)")
    if failures > 0 { throw BenchClient.Failure(description: "preload of \(url) had \(failures) failures") }
}

/// Sends `count` announces of random pool peers and decodes every reply in full: a valid
/// reply is a canonical bencoded dictionary with an integer `interval` and a `peers` string or
/// list, and no `failure reason`. `minPeers` checks that a preloaded tracker hands out peers.
func verify(url: String, pool: Pool, count: Int, expectPeers: Bool, users: Int = 0) throws {
    let client = try BenchClient(url: url)
    let path = String(url.drop { $0 != "/" }.dropFirst(2).drop { $0 != "/" })
    var rng = SystemRandomNumberGenerator()
    var failures = 0, withPeers = 0
    var firstProblem: String?
    for _ in 0..<count {
        let k = Int.random(in: pool.sizes.indices, using: &rng)
        let j = Int.random(in: 0..<pool.sizes[k], using: &rng)
        let r = try client.get(announceTarget(path: path, pool: pool, torrent: k, peer: j, users: users))
        let decoded = try? BencodeValue.decode(r.body)
        let peers = decoded?["peers"]
        let ok =
            r.status == 200 && decoded?["failure reason"] == nil && decoded?["interval"]?.intValue != nil
            && (peers?.bytesValue != nil || peers?.listValue != nil)
        if !ok {
            failures += 1
            if firstProblem == nil { firstProblem = "status \(r.status), body \(String(decoding: r.body.prefix(120), as: UTF8.self))" }
        }
        let count = (peers?.bytesValue?.count ?? 0) / 6 + (decoded?["peers6"]?.bytesValue?.count ?? 0) / 18
        if count > 0 { withPeers += 1 }
    }
    print(
        "verified \(url): \(count) replies, \(failures) invalid, \(withPeers) with peers\(firstProblem.map { "; first problem: \($0)" } ?? "")"
    )
    if failures > 0 || (expectPeers && withPeers == 0) {
        throw BenchClient.Failure(description: "verify failed for \(url)")
    }
}

/// A private tracker's registry for the pool as `private.state_file` lines: one group, `users`
/// users (passkeys as `Pool.passkey`), the pool's torrents approved (ids from 1).
func registry(pool: Pool, users: Int) {
    print(RegistryCall(.putGroup(PrivateGroup(id: 3, slug: "user"))).line)
    for u in 1...max(1, users) {
        print(RegistryCall(.putUser(PrivateUser(id: UInt32(u), groupID: 3, passkey: Passkey(Pool.passkey(user: u))!), replacing: nil)).line)
    }
    for (i, h) in pool.hashes.enumerated() {
        print(RegistryCall(.putTorrent(PrivateTorrent(id: UInt32(i + 1), infoHash: InfoHash(h)!))).line)
    }
}

/// The same registry as UNIT3D rows, as SQL for the fixture's schema (`unit3d-sql`): group 3,
/// `users` users and the pool's torrents (ids from 1), so the accounting's upserts find every
/// user and torrent they name.
func unit3dSQL(pool: Pool, users: Int) {
    print("SET FOREIGN_KEY_CHECKS = 0;")
    print(
        "INSERT INTO `groups` (id, name, slug, position, level, color, icon, can_chat, can_comment, can_invite, can_request) VALUES (3, 'User', 'user', 6, 30, '#7289DA', 'fa fa-user', 1, 1, 0, 1);"
    )
    let chunk = 5000
    for start in stride(from: 1, through: max(1, users), by: chunk) {
        let rows = (start..<min(start + chunk, max(1, users) + 1)).map { u in
            "(\(u),'u\(u)','u\(u)@example.invalid','x','\(Pool.passkey(user: u))',3,'rss\(u)')"
        }
        print("INSERT INTO users (id, username, email, password, passkey, group_id, rsskey) VALUES " + rows.joined(separator: ",") + ";")
    }
    let torrents = pool.hashes.enumerated().map { (i, h) in
        "(\(i + 1),'t\(i + 1)','d','f',1,1048576,1,UNHEX('\(h.map { String(format: "%02x", $0) }.joined())'),1)"
    }
    for start in stride(from: 0, to: torrents.count, by: chunk) {
        print(
            "INSERT INTO torrents (id, name, description, file_name, num_file, size, user_id, info_hash, status) VALUES "
                + torrents[start..<min(start + chunk, torrents.count)].joined(separator: ",") + ";")
    }
    print("SET FOREIGN_KEY_CHECKS = 1;")
}
