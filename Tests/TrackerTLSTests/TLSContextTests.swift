import Foundation
import Testing
import TrackerTLS
import TrackerTestSupport

@Suite struct TLSContextTests {
    @Test func loadsTheDevelopmentCertificate() throws {
        let f = try TLSFixtures()
        defer { f.cleanup() }
        let c = try TLSContext(certificateChainFile: f.cert, privateKeyFile: f.key)
        #expect(c.subject == "/CN=localhost")
        #expect(c.alternativeNames.contains("DNS:localhost") && c.alternativeNames.contains("IP Address:127.0.0.1"))
        #expect(c.hostNames == ["localhost"])
        #expect(!c.serial.isEmpty)
        #expect(c.notAfter > Int(Date().timeIntervalSince1970) + 80 * 86_400)
    }

    @Test(arguments: [
        ("rsa-pkcs1", "openssl genrsa -traditional -out KEY 2048", "BEGIN RSA PRIVATE KEY"),
        ("rsa-pkcs8", "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out KEY", "BEGIN PRIVATE KEY"),
        ("ec-sec1", "openssl ecparam -name prime256v1 -genkey -noout -out KEY", "BEGIN EC PRIVATE KEY"),
        ("ec-pkcs8", "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out KEY", "BEGIN PRIVATE KEY"),
    ])
    func acceptsRSAAndECDSAKeysInEveryPEMForm(name: String, keyCommand: String, marker: String) throws {
        let f = try TLSFixtures()
        defer { f.cleanup() }
        let (cert, key) = try f.issue(name, cn: "\(name).test", keyCommand: keyCommand)
        #expect(try String(contentsOfFile: key, encoding: .utf8).contains(marker), "the key really is in that form")
        let c = try TLSContext(certificateChainFile: cert, privateKeyFile: key)
        #expect(c.hostNames == ["\(name).test"])
    }

    @Test func fullChainsLoadAndMisorderedChainsFail() throws {
        let f = try TLSFixtures()
        defer { f.cleanup() }
        try shell("cat '\(f.cert)' '\(f.ca)' > '\(f.dir)/full.pem' && cat '\(f.ca)' '\(f.cert)' > '\(f.dir)/reversed.pem'")
        _ = try TLSContext(certificateChainFile: f.dir + "/full.pem", privateKeyFile: f.key)
        #expect(throws: TLSError.self) { try TLSContext(certificateChainFile: f.dir + "/reversed.pem", privateKeyFile: f.key) }
    }

    @Test func badFilesFailWithOneLineNamingTheFileAndReason() throws {
        let f = try TLSFixtures()
        defer { f.cleanup() }
        let (_, otherKey) = try f.issue("other", cn: "other.test")
        let (expiredCert, expiredKey) = try f.expired()
        try "not a certificate".write(toFile: f.dir + "/garbage.pem", atomically: true, encoding: .utf8)
        let cases: [(String, String, String)] = [
            (f.cert, otherKey, "\(otherKey): key does not match the certificate in \(f.cert)"),
            (f.dir + "/missing.pem", f.key, "\(f.dir)/missing.pem: cannot read the certificate file"),
            (f.cert, f.dir + "/missing.key", "\(f.dir)/missing.key: cannot read the key file"),
            (f.dir + "/garbage.pem", f.key, "\(f.dir)/garbage.pem: not a PEM certificate chain"),
            (f.cert, f.dir + "/garbage.pem", "\(f.dir)/garbage.pem: not a PEM private key"),
            (expiredCert, expiredKey, "\(expiredCert): certificate expired"),
        ]
        for (cert, key, expected) in cases {
            do {
                _ = try TLSContext(certificateChainFile: cert, privateKeyFile: key)
                Issue.record("loaded \(cert) with \(key)")
            } catch {
                #expect(error.description.hasPrefix(expected), "\(error.description)")
                #expect(!error.description.contains("\n"))
            }
        }
    }

    @Test func reloadKeepsTheOldSetWhenTheNewFilesAreBad() throws {
        let f = try TLSFixtures()
        defer { f.cleanup() }
        let contexts = try ReloadableTLSContexts(pairs: [(f.cert, f.key)])
        let before = contexts.current.contexts[0].serial
        let (_, otherKey) = try f.issue("other", cn: "other.test")
        try shell("cp '\(otherKey)' '\(f.key)'")
        #expect(throws: TLSError.self) { try contexts.reload() }
        #expect(contexts.current.contexts[0].serial == before)
    }
}
