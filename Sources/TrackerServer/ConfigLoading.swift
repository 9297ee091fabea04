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
    public static func resolve(fileText: String?, fileName: String = "config", overrides: ConfigOverrides) throws(ConfigError)
        -> SquallConfig
    {
        var config = SquallConfig()
        if let fileText { try config.apply(toml: fileText, source: fileName) }
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
