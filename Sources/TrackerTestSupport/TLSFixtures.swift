public import Foundation

/// The repository's root (for its scripts and fixtures: `certs/make-dev-cert.sh`...).
public let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// Certificates made for one test with the openssl CLI (as `certs/make-dev-cert.sh` does), in
/// a fresh temporary directory.
public struct TLSFixtures: Sendable {
    public let dir: String
    public var ca: String { dir + "/ca.pem" }
    public var cert: String { dir + "/server.pem" }
    public var key: String { dir + "/server.key" }

    public init() throws {
        dir = TestFiles.path("tls")
        try shell("\(repoRoot.path)/certs/make-dev-cert.sh '\(dir)' >/dev/null")
    }

    public func cleanup() { try? FileManager.default.removeItem(atPath: dir) }

    /// Issues a certificate for `cn` (DNS SAN too) from the fixture CA, with `keyCommand`
    /// making the key (so tests cover PKCS#1, SEC1 and PKCS#8). Returns (cert, key) paths.
    public func issue(_ name: String, cn: String, keyCommand: String? = nil, serial: String? = nil) throws -> (String, String) {
        let key = "\(dir)/\(name).key", cert = "\(dir)/\(name).pem"
        try shell(
            (keyCommand ?? "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out KEY").replacingOccurrences(
                of: "KEY", with: key))
        try shell(
            """
            openssl req -new -key '\(key)' -subj '/CN=\(cn)' -out '\(dir)/\(name).csr' && \
            openssl x509 -req -in '\(dir)/\(name).csr' -CA '\(ca)' -CAkey '\(dir)/ca.key' -set_serial 0x\(serial ?? String(UInt32.random(in: 1...UInt32.max), radix: 16)) -days 30 \
              -extfile <(printf 'subjectAltName=DNS:\(cn)\\n') -out '\(cert)'
            """)
        return (cert, key)
    }

    /// A certificate that expired in 2020, from the fixture CA.
    public func expired() throws -> (String, String) {
        let key = "\(dir)/expired.key", cert = "\(dir)/expired.pem"
        try shell(
            """
            cd '\(dir)' && mkdir -p ca-db && : > ca-db/index.txt && echo 01 > ca-db/serial && \
            printf '[ca]\\ndefault_ca=d\\n[d]\\ndatabase=ca-db/index.txt\\nnew_certs_dir=ca-db\\nserial=ca-db/serial\\ndefault_md=sha256\\npolicy=p\\n[p]\\ncommonName=supplied\\n' > ca.cnf && \
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=expired -keyout '\(key)' -out expired.csr && \
            openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out '\(cert)' -notext \
              -startdate 20200101000000Z -enddate 20200102000000Z
            """)
        return (cert, key)
    }
}

/// The serial of a PEM certificate file (hex, upper case).
public func fileSerial(_ path: String) throws -> String {
    try shell("openssl x509 -in '\(path)' -noout -serial").trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(
        of: "serial=", with: "")
}

/// The serial of the certificate a new TLS connection to 127.0.0.1:`port` is given, asking for
/// `serverName` (SNI), verified against `ca` (hex, upper case).
public func servedSerial(_ port: Int, ca: String, serverName: String = "localhost") throws -> String {
    let out = try shell(
        "echo | openssl s_client -connect 127.0.0.1:\(port) -servername \(serverName) -CAfile '\(ca)' 2>/dev/null | openssl x509 -noout -serial"
    )
    return out.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "serial=", with: "")
}

/// Runs a bash command; throws with its output when it fails.
@discardableResult
public func shell(_ command: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/bash")
    p.arguments = ["-c", command]
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    guard p.terminationStatus == 0 else { throw ShellFailure(description: "`\(command.prefix(80))` failed: \(text)") }
    return text
}

/// A command `shell` ran that failed, with its output.
public struct ShellFailure: Error, CustomStringConvertible {
    public var description: String
}
