public import Foundation
import TOMLKit

/// Values given on the command line; nil means "not given".
public struct ConfigOverrides: Sendable {
    public var http: [String] = []
    public var https: [String] = []
    public var tlsCerts: [String] = []
    public var tlsKeys: [String] = []
    public var storage: String?
    public var announceInterval: String?
    public var logLevel: String?
    public init() {}
}

extension SquallConfig {
    /// Defaults, then the file (if any), then the flags; validated. Errors name the key or flag.
    public static func resolve(
        fileText: String?, fileName: String = "config", overrides: ConfigOverrides,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigError) -> SquallConfig {
        var config = SquallConfig()
        if let fileText { try config.apply(toml: fileText, source: fileName) }
        try config.apply(environment: environment)
        if !overrides.http.isEmpty {
            config.http.listen = try ListenAddress.parseList(overrides.http, key: "--http", form: "ADDR:PORT")
        }
        if !overrides.https.isEmpty {
            config.https.listen = try ListenAddress.parseList(overrides.https, key: "--https", form: "ADDR:PORT")
        }
        if !overrides.tlsCerts.isEmpty || !overrides.tlsKeys.isEmpty {
            guard overrides.tlsCerts.count == overrides.tlsKeys.count else {
                throw ConfigError(
                    key: "--tls-cert",
                    "give --tls-cert and --tls-key in pairs (\(overrides.tlsCerts.count) certificates, \(overrides.tlsKeys.count) keys)")
            }
            config.https.certificates = zip(overrides.tlsCerts, overrides.tlsKeys).map { CertificatePair(cert: $0, key: $1) }
        }
        if let s = overrides.storage { config.storage = s }
        if let s = overrides.announceInterval {
            guard let v = Int(s) else { throw ConfigError(key: "--announce-interval", "'\(s)' is not a number of seconds") }
            config.announce.interval = v
        }
        if let s = overrides.logLevel { config.logLevel = s }
        try config.validate()
        return config
    }
}

extension SquallConfig {
    /// The sections whose keys `SQUALL_SECTION_KEY` variables set.
    static let sections = ["http", "https", "announce", "scrape", "memory", "redis", "stats", "metrics", "private", "admin", "accounting"]
    static let topLevelKeys = ["log_level", "log_format", "storage", "trusted_proxies"]

    /// `SQUALL_...` environment variables, one per key, over the file (flags still win):
    /// `SQUALL_LOG_LEVEL`, `SQUALL_ANNOUNCE_INTERVAL=600`, `SQUALL_REDIS_PASSWORD_FILE=...`,
    /// `SQUALL_HTTP_LISTEN='["[::]:80"]'`. A value is read as a TOML value (a number, `true`,
    /// an array), else as a string. A variable naming a section but no key of it is an error
    /// naming the variable; other `SQUALL_` variables are not Squall's keys and are left alone.
    mutating func apply(environment: [String: String]) throws(ConfigError) {
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) where name.hasPrefix("SQUALL_") {
            let rest = name.dropFirst("SQUALL_".count).lowercased()
            let doc: String
            if Self.topLevelKeys.contains(rest) {
                doc = Self.tomlLine(rest, value)
            } else if let section = Self.sections.first(where: { rest.hasPrefix($0 + "_") }) {
                doc = "[\(section)]\n" + Self.tomlLine(String(rest.dropFirst(section.count + 1)), value)
            } else {
                continue
            }
            do {
                try apply(toml: doc, source: name)
            } catch {
                // The variable, not the key it maps to: what the operator wrote.
                let message = error.description.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) }
                throw ConfigError(key: name, message ?? "\(error)")
            }
        }
    }

    /// `key = value` when the value is a TOML value on its own, else `key = "value"`.
    static func tomlLine(_ key: String, _ value: String) -> String {
        let raw = "\(key) = \(value)\n"
        if (try? TOMLTable(string: raw)) != nil { return raw }
        let quoted = value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return "\(key) = \"\(quoted)\"\n"
    }
}
