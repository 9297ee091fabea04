import COpenSSL
import CSquallTLSShims

/// The certificates a TLS listener serves: the first is the default, the others are chosen by
/// SNI host name. Immutable; a reload builds a new set.
public final class TLSContextSet: Sendable {
    public let contexts: [TLSContext]
    private let byHost: [String: TLSContext]

    /// Loads every (certificate chain, key) pair; fails on the first bad one.
    public init(pairs: [(certificate: String, key: String)]) throws(TLSError) {
        guard !pairs.isEmpty else { throw TLSError("no certificate configured") }
        var contexts: [TLSContext] = []
        for p in pairs { contexts.append(try TLSContext(certificateChainFile: p.certificate, privateKeyFile: p.key)) }
        var byHost: [String: TLSContext] = [:]
        for c in contexts { for h in c.hostNames where byHost[h] == nil { byHost[h] = c } }
        self.contexts = contexts
        self.byHost = byHost
        for c in contexts {
            _ = squall_SSL_CTX_set_tlsext_servername_callback(c.pointer, chooseBySNI)
            _ = squall_SSL_CTX_set_tlsext_servername_arg(c.pointer, Unmanaged.passUnretained(self).toOpaque())
        }
    }

    var defaultContext: TLSContext { contexts[0] }

    /// The context for a host name: exact match, then a `*.` wildcard one label up.
    func context(forHost host: String) -> TLSContext? {
        let h = host.lowercased()
        if let c = byHost[h] { return c }
        if let dot = h.firstIndex(of: ".") { return byHost["*" + h[dot...]] }
        return nil
    }

    /// The earliest expiry among the certificates, in seconds since 1970.
    public var nearestExpiry: Int { contexts.map(\.notAfter).min() ?? 0 }
}

/// SNI: switch the connection to the certificate for the requested name; unknown names keep
/// the default certificate. The set outlives the connection (it holds the set strongly).
private func chooseBySNI(_ ssl: OpaquePointer?, _ alert: UnsafeMutablePointer<Int32>?, _ arg: UnsafeMutableRawPointer?) -> Int32 {
    guard let ssl, let arg, let name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) else { return SSL_TLSEXT_ERR_OK }
    let set = Unmanaged<TLSContextSet>.fromOpaque(arg).takeUnretainedValue()
    if let chosen = set.context(forHost: String(cString: name)), chosen !== set.defaultContext {
        _ = SSL_set_SSL_CTX(ssl, chosen.pointer)
    }
    return SSL_TLSEXT_ERR_OK
}
