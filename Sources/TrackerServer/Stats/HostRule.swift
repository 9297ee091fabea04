/// Which `Host` values the statistics and metrics answer to (`stats.hosts`).
///
/// DNS rebinding: a page at a name the attacker controls (`evil.example`) is made to resolve to
/// 127.0.0.1, and the visitor's browser then reads the tracker's loopback-only pages as that
/// origin. The browser still sends the attacker's name as the Host, so answering only to known
/// names defeats it. An address literal (`127.0.0.1:6969`, `[::1]:6969`) is always accepted:
/// a page whose origin is an address was served from that address and port, that is by the
/// tracker itself, so no rebinding can produce one. A request with no Host at all is not from a
/// browser (every browser sends one) and is accepted too.
struct HostRule: Sendable {
    /// Lower-case names, without port or trailing dot; `localhost` always among them.
    let names: Set<String>

    init(names: [String]) {
        self.names = Set(names.compactMap { Self.name(Array($0.utf8)) } + ["localhost"])
    }

    func allows(_ host: [UInt8]?) -> Bool {
        guard let host else { return true }
        guard let name = Self.name(host) else { return false }
        if names.contains(name) { return true }
        // `name` has no `/`, so AddressRange reads only single addresses here, not blocks.
        if name.hasPrefix("["), name.hasSuffix("]") { return AddressRange(String(name.dropFirst().dropLast())) != nil }
        return name.first?.isNumber == true && AddressRange(name) != nil
    }

    /// The host part of a `Host` value: lower-cased, without the port and one trailing dot;
    /// nil when it is empty or holds bytes no host name has.
    static func name(_ value: [UInt8]) -> String? {
        guard !value.isEmpty, value.count <= 255,
            value.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "@") && $0 != UInt8(ascii: "/") })
        else { return nil }
        var text = String(decoding: value, as: UTF8.self).lowercased()
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let rest = text[text.index(after: close)...]
            guard rest.isEmpty || (rest.first == ":" && rest.dropFirst().allSatisfy(\.isNumber)) else { return nil }
            return String(text[...close])
        }
        if let colon = text.lastIndex(of: ":") {
            guard text[text.index(after: colon)...].allSatisfy(\.isNumber), !text[..<colon].contains(":") else { return nil }
            text = String(text[..<colon])
        }
        if text.hasSuffix(".") { text.removeLast() }
        return text.isEmpty ? nil : text
    }
}
