import TrackerCore

/// The small parsers of config and of Redis's redirections, compiled here from their sources
/// (`AddressRange`, `ListenAddress`, `HostRule`, `RedisOptions`, `Redirect`): no crash, and what
/// each accepts is in range and reads back the same. The first byte picks the parser.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSmallParsers(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let text = String(decoding: bytes, as: UTF8.self)
    switch data[0] % 5 {
    case 0:
        // CIDR blocks and addresses (`stats.allow`, `announce.quota_exempt`).
        if let range = AddressRange(text) {
            guard let again = AddressRange(range.description), again == range else { fatalError("\(range) does not read back") }
        }
    case 1:
        // Listen addresses (`http.listen`, `--http`).
        if let a = ListenAddress(text) {
            guard (0...65535).contains(a.port), !a.host.isEmpty else { fatalError("accepted \(a)") }
            guard ListenAddress(a.description) == a else { fatalError("\(a) does not read back") }
        }
    case 2:
        // Redis URLs (`storage`): the password never shows in the redacted form.
        if let o = RedisOptions(url: text) {
            for e in [o.endpoint] + o.clusterSeeds {
                if case .tcp(_, let port) = e, !(1...65535).contains(port) { fatalError("port \(port) accepted") }
            }
            // The redacted form must not depend on the password at all.
            var other = o
            other.password = o.password == nil ? nil : (o.password == "x" ? "y" : "x")
            if other.redacted != o.redacted { fatalError("the password changes \(o.redacted)") }
        }
    case 3:
        // MOVED / ASK replies from a cluster.
        if let r = Redirect(text) {
            guard (0..<RedisSlot.count).contains(r.slot) else { fatalError("slot \(r.slot) accepted") }
            if case .tcp(_, let port) = r.server, !(1...65535).contains(port) { fatalError("port \(port) accepted") }
        }
    default:
        // Host headers (`stats.hosts`).
        if let name = HostRule.name(bytes) {
            guard !name.isEmpty, name == name.lowercased() else { fatalError("host name \(name)") }
        }
        _ = HostRule(names: ["tracker.example.org"]).allows(bytes)
    }
    return 0
}
