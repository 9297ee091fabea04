import COpenSSL
import CSquallTLSShims

#if canImport(Glibc)
    import Glibc
#endif

/// One certificate chain and its key, loaded into an `SSL_CTX` and validated.
///
/// The sole owner of its `SSL_CTX`, freed in `deinit`. Connections hold their context (through
/// `TLSContextSet`) strongly, so a certificate reload never frees a context a connection uses.
/// An `SSL_CTX` is safe to share between threads once configured; nothing mutates it after init.
public final class TLSContext: @unchecked Sendable {
    /// Owns the `SSL_CTX` from its creation, so a load that fails half-way still frees it.
    private let handle: SSLContextHandle
    var pointer: OpaquePointer { handle.pointer }
    public let certificateFile: String
    public let keyFile: String
    /// The leaf certificate's subject, e.g. `/CN=localhost`.
    public let subject: String
    /// The leaf certificate's subjectAltName entries, e.g. `DNS:localhost`, `IP Address:::1`.
    public let alternativeNames: [String]
    /// The leaf certificate's serial number, in hexadecimal.
    public let serial: String
    /// The leaf certificate's expiry, in seconds since 1970.
    public let notAfter: Int
    /// Host names (DNS SANs, else the CN) this certificate is chosen for by SNI.
    public let hostNames: [String]

    /// Mozilla's "intermediate" TLS 1.2 cipher list; TLS 1.3 keeps OpenSSL's default suites.
    static let intermediateCiphers = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    /// Loads and validates a PEM certificate chain (leaf first) and its key (PKCS#1, SEC1 or
    /// PKCS#8 PEM, RSA or ECDSA). Fails naming the file and the reason: unreadable, not PEM,
    /// key does not match, chain does not build, expired.
    public init(certificateChainFile: String, privateKeyFile: String) throws(TLSError) {
        certificateFile = certificateChainFile
        keyFile = privateKeyFile
        OpenSSLErrors.clear()
        guard let ctx = SSL_CTX_new(TLS_server_method()) else { throw OpenSSLErrors.error("cannot create a TLS context") }
        handle = SSLContextHandle(ctx)
        guard squall_SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1,
            squall_SSL_CTX_set_max_proto_version(ctx, 0) == 1
        else { throw OpenSSLErrors.error("cannot restrict TLS versions") }
        _ = SSL_CTX_set_options(ctx, squall_SSL_OP_NO_RENEGOTIATION() | squall_SSL_OP_NO_COMPRESSION())
        _ = squall_SSL_CTX_set_mode(ctx, Int(SSL_MODE_RELEASE_BUFFERS))
        guard SSL_CTX_set_cipher_list(ctx, Self.intermediateCiphers) == 1 else { throw OpenSSLErrors.error("cannot set ciphers") }
        let sessionContext = Array("squall".utf8)
        _ = SSL_CTX_set_session_id_context(ctx, sessionContext, UInt32(sessionContext.count))
        SSL_CTX_set_alpn_select_cb(ctx, selectHTTP11, nil)

        guard access(certificateChainFile, R_OK) == 0 else { throw TLSError("\(certificateChainFile): cannot read the certificate file") }
        guard access(privateKeyFile, R_OK) == 0 else { throw TLSError("\(privateKeyFile): cannot read the key file") }
        OpenSSLErrors.clear()
        guard SSL_CTX_use_certificate_chain_file(ctx, certificateChainFile) == 1 else {
            throw OpenSSLErrors.error("\(certificateChainFile): not a PEM certificate chain")
        }
        OpenSSLErrors.clear()
        guard let keyBIO = BIO_new_file(privateKeyFile, "r") else {
            throw OpenSSLErrors.error("\(privateKeyFile): cannot read the key file")
        }
        let key = PEM_read_bio_PrivateKey(keyBIO, nil, nil, nil)
        BIO_free(keyBIO)
        guard let key else { throw OpenSSLErrors.error("\(privateKeyFile): not a PEM private key (PKCS#1, SEC1 or PKCS#8)") }
        defer { EVP_PKEY_free(key) }
        OpenSSLErrors.clear()
        guard SSL_CTX_use_PrivateKey(ctx, key) == 1, SSL_CTX_check_private_key(ctx) == 1 else {
            ERR_clear_error()
            throw TLSError("\(privateKeyFile): key does not match the certificate in \(certificateChainFile)")
        }
        guard let leaf = SSL_CTX_get0_certificate(ctx) else { throw TLSError("\(certificateChainFile): no certificate") }
        try Self.checkChainOrder(certificateChainFile)

        notAfter = Self.seconds(X509_get0_notAfter(leaf))
        let now = Int(time(nil))
        guard notAfter > now else {
            throw TLSError("\(certificateChainFile): certificate expired \(now - notAfter) seconds ago")
        }
        guard X509_cmp_current_time(X509_get0_notBefore(leaf)) < 0 else {
            throw TLSError("\(certificateChainFile): certificate is not valid yet")
        }
        subject = Self.subject(of: leaf)
        alternativeNames = Self.alternativeNames(of: leaf)
        serial = Self.serial(of: leaf)
        let dnsNames = alternativeNames.filter { $0.hasPrefix("DNS:") }.map { String($0.dropFirst(4)).lowercased() }
        let cn = subject.split(separator: "/").first { $0.hasPrefix("CN=") }.map { String($0.dropFirst(3)).lowercased() }
        hostNames = dnsNames.isEmpty ? (cn.map { [$0] } ?? []) : dnsNames
    }

    /// Each certificate in the file must be issued, and signed, by the one after it; the last
    /// one's issuer (a root the clients trust) may be left out, as in Let's Encrypt's fullchain.pem.
    private static func checkChainOrder(_ file: String) throws(TLSError) {
        guard let bio = BIO_new_file(file, "r") else { throw OpenSSLErrors.error("\(file): cannot read the certificate file") }
        defer { BIO_free(bio) }
        var chain: [OpaquePointer] = []
        defer { chain.forEach { X509_free($0) } }
        while let cert = PEM_read_bio_X509(bio, nil, nil, nil) { chain.append(cert) }
        ERR_clear_error()  // the loop ends on a "no start line" error
        for i in chain.indices.dropLast() {
            let (cert, issuer) = (chain[i], chain[i + 1])
            guard X509_check_issued(issuer, cert) == X509_V_OK, let key = X509_get0_pubkey(issuer), X509_verify(cert, key) == 1 else {
                ERR_clear_error()
                throw TLSError("\(file): the certificate chain does not build: certificate \(i + 1) is not issued by certificate \(i + 2)")
            }
        }
    }

    private static func seconds(_ t: UnsafePointer<ASN1_TIME>?) -> Int {
        var tm = tm()
        guard let t, ASN1_TIME_to_tm(t, &tm) == 1 else { return 0 }
        return Int(timegm(&tm))
    }

    private static func subject(of cert: OpaquePointer) -> String {
        guard let name = X509_get_subject_name(cert), let text = X509_NAME_oneline(name, nil, 0) else { return "" }
        defer { squall_OPENSSL_free(text) }
        return String(cString: text)
    }

    private static func serial(of cert: OpaquePointer) -> String {
        guard let bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert), nil) else { return "" }
        defer { BN_free(bn) }
        guard let hex = BN_bn2hex(bn) else { return "" }
        defer { squall_OPENSSL_free(hex) }
        return String(cString: hex)
    }

    private static func alternativeNames(of cert: OpaquePointer) -> [String] {
        let index = X509_get_ext_by_NID(cert, NID_subject_alt_name, -1)
        guard index >= 0, let ext = X509_get_ext(cert, index), let bio = BIO_new(BIO_s_mem()) else { return [] }
        defer { BIO_free(bio) }
        guard X509V3_EXT_print(bio, ext, 0, 0) == 1 else { return [] }
        var text: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 1024)
        while true {
            let n = BIO_read(bio, &buf, Int32(buf.count))
            if n <= 0 { break }
            text += buf[..<Int(n)]
        }
        return String(decoding: text, as: UTF8.self).split(separator: ",").map { $0.trimmingPrefix(" ").description }
    }
}

/// ALPN: choose http/1.1 when the client offers it; otherwise go on without ALPN.
private func selectHTTP11(
    _ ssl: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?, _ outlen: UnsafeMutablePointer<UInt8>?,
    _ input: UnsafePointer<UInt8>?, _ inlen: UInt32, _ arg: UnsafeMutableRawPointer?
) -> Int32 {
    guard let input, let out, let outlen else { return SSL_TLSEXT_ERR_NOACK }
    let wanted = Array("http/1.1".utf8)
    var i = 0
    while i < Int(inlen) {
        let length = Int(input[i])
        let start = i + 1
        guard start + length <= Int(inlen) else { break }
        if length == wanted.count, (0..<length).allSatisfy({ input[start + $0] == wanted[$0] }) {
            out.pointee = input + start
            outlen.pointee = UInt8(length)
            return SSL_TLSEXT_ERR_OK
        }
        i = start + length
    }
    return SSL_TLSEXT_ERR_NOACK
}

/// The single owner of one `SSL_CTX`.
private final class SSLContextHandle {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { SSL_CTX_free(pointer) }
}
