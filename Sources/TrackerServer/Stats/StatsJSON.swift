import TrackerCore

/// What the page and `/stats.json` both show.
struct StatsSummary: Sendable {
    var version: String
    /// Seconds, at least 1.
    var uptime: Int64
    var store: String
    var storeUp: Bool
    var totals: SwarmTotals?
    /// Answered since start, by transport.
    var announces: [Transport: Int]
    var scrapes: [Transport: Int]
    var certificateExpiresIn: Int?
    /// Private mode's part (`PrivateTracker.summaryJSON`), when it is on.
    var privateMode: String? = nil

    func perSecond(_ n: Int) -> Double { Double(n) / Double(uptime) }

    /// `/stats.json`.
    var json: String {
        var json = #"{"version":"\#(version)","uptime":\#(uptime),"store":{"kind":"\#(store)","up":\#(storeUp)}"#
        if let t = totals {
            json +=
                #","torrents":\#(t.torrents),"peers":\#(t.peers),"seeders":\#(t.seeders),"leechers":\#(t.leechers)"#
                + #","peers_by_family":{"ipv4":\#(t.ipv4Only),"ipv6":\#(t.ipv6Only),"both":\#(t.dualStack)}"#
        }
        for (name, byTransport) in [("announces", announces), ("scrapes", scrapes)] {
            let parts = Transport.allCases.map { t in
                let n = byTransport[t] ?? 0
                return #""\#(t.rawValue)":{"total":\#(n),"per_second":\#(perSecond(n))}"#
            }
            json += #","\#(name)":{\#(parts.joined(separator: ","))}"#
        }
        if let c = certificateExpiresIn { json += #","certificate_expires_in":\#(c)"# }
        if let p = privateMode { json += #","private":"# + p }
        return json + "}\n"
    }
}

/// The statistics' JSON documents besides the summary: a page of the torrents table and one
/// torrent's peers. Every string goes through `JSONText`.
enum StatsJSON {
    /// DataTables' server-side reply. Rows are `[info_hash, seeders, leechers, completed, IPv4
    /// peers, IPv6 peers, seconds since the last announce]`; `draw` is echoed as a number.
    static func torrents(draw: Int, _ page: TorrentPage) -> String {
        let data = page.rows.map {
            "[\(JSONText.quoted($0.infoHash.raw.hex)),\($0.seeders),\($0.leechers),\($0.completed),\($0.ipv4),\($0.ipv6),\($0.idle)]"
        }
        return
            #"{"draw":\#(draw),"recordsTotal":\#(page.total),"recordsFiltered":\#(page.filtered),"data":[\#(data.joined(separator: ","))]}"#
            + "\n"
    }

    /// One torrent's peers: peer_id in hex, the client decoded from it, role, families, port,
    /// seconds since the last announce; addresses only when `showAddresses`.
    static func peers(of hash: InfoHash, _ peers: [PeerRow], showAddresses: Bool) -> String {
        let items = peers.map { p -> String in
            let role =
                switch p.role {
                case .seeder: "seeder"
                case .leecher: "leecher"
                case .partialSeed: "partial seed"
                }
            let families = [p.v4.map { _ in "\"ipv4\"" }, p.v6.map { _ in "\"ipv6\"" }].compactMap { $0 }
            var item =
                #"{"peer_id":\#(JSONText.quoted(p.peerID.raw.hex)),"client":\#(p.peerID.clientName.map(JSONText.quoted) ?? "null"),"#
                + #""role":"\#(role)","families":[\#(families.joined(separator: ","))],"port":\#((p.v4 ?? p.v6)?.port ?? 0),"idle":\#(p.idle)"#
            if showAddresses {
                if let v4 = p.v4 { item += #","ipv4":\#(JSONText.quoted("\(v4.address)"))"# }
                if let v6 = p.v6 { item += #","ipv6":\#(JSONText.quoted("\(v6.address)"))"# }
            }
            return item + "}"
        }
        return #"{"info_hash":"\#(hash.raw.hex)","peers":[\#(items.joined(separator: ","))]}"# + "\n"
    }

    /// `{"error":"..."}`.
    static func error(_ reason: String) -> String { #"{"error":\#(JSONText.quoted(reason))}"# + "\n" }
}
