extension PeerID {
    /// Clients by their Azureus-style two-letter code (`-qB4650-...`); the common ones.
    static let clients: [String: String] = [
        "qB": "qBittorrent", "TR": "Transmission", "DE": "Deluge", "lt": "libtorrent (Rakshasa)", "LT": "libtorrent",
        "UT": "µTorrent", "UM": "µTorrent Mac", "UW": "µTorrent Web", "BT": "BitTorrent", "AZ": "Vuze", "BI": "BiglyBT",
        "KT": "KTorrent", "FD": "Free Download Manager", "TL": "Tribler", "WW": "WebTorrent", "SQ": "Squall test",
        "BC": "BitComet", "XL": "Xunlei", "SD": "Thunder", "FW": "FrostWire", "PI": "PicoTorrent", "TX": "Tixati",
        "RT": "rTorrent", "HL": "Halite", "LW": "LimeWire", "QD": "QQDownload", "BF": "BitFlu", "IL": "iLivid",
    ]

    /// The client named by an Azureus-style prefix `-XXvvvv-` (aria2's `A2-` too), with its
    /// version digits: `qBittorrent 4.6.5.0`. Nil for any other peer_id. Only letters and digits
    /// from the prefix are used, so the name never carries markup.
    public var clientName: String? {
        let b = raw.bytes
        func isAlnum(_ c: UInt8) -> Bool { (48...57).contains(c) || (65...90).contains(c) || (97...122).contains(c) }
        if b[0] == UInt8(ascii: "A"), b[1] == UInt8(ascii: "2"), b[2] == UInt8(ascii: "-") { return "aria2" }
        guard b[0] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[1...6].allSatisfy(isAlnum) else { return nil }
        let code = String(decoding: b[1...2], as: UTF8.self)
        let version = b[3...6].map { String(decoding: [$0], as: UTF8.self) }.joined(separator: ".")
        return "\(Self.clients[code] ?? code) \(version)"
    }
}
