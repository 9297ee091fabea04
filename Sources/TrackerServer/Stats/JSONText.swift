import TrackerCore

/// Writes JSON string literals. Besides what JSON requires, `<`, `>`, `&` and `'` are escaped,
/// so a value can never close a script element or an attribute it ends up in.
enum JSONText {
    static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "<", ">", "&", "'", "\u{2028}", "\u{2029}":
                out += "\\u" + String(repeating: "0", count: 4 - String(u.value, radix: 16).count) + String(u.value, radix: 16)
            case _ where u.value < 0x20:
                out += "\\u" + String(repeating: "0", count: 4 - String(u.value, radix: 16).count) + String(u.value, radix: 16)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}
