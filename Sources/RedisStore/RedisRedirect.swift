/// A cluster's `MOVED slot host:port` or `ASK slot host:port` error reply.
struct Redirect {
    var ask: Bool
    var slot: Int
    var server: RedisEndpoint

    init?(_ message: String) {
        let parts = message.split(separator: " ")
        // Range-checked: a slot or port out of range from a broken or hostile server is no
        // redirect (the command fails) rather than an index out of range.
        guard parts.count == 3, parts[0] == "MOVED" || parts[0] == "ASK", let slot = Int(parts[1]), (0..<RedisSlot.count).contains(slot),
            let colon = parts[2].lastIndex(of: ":"), let port = Int(parts[2][parts[2].index(after: colon)...]), (1...65535).contains(port)
        else { return nil }
        var host = parts[2][..<colon]
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        ask = parts[0] == "ASK"
        self.slot = slot
        server = .tcp(host: String(host), port: port)
    }
}
