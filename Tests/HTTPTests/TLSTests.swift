import Foundation
import SocketTestSupport
import Testing

@testable import HTTP

/// Runs a command; returns its exit status and standard output, or nil when the tool is missing.
private func run(_ executable: String, _ arguments: [String]) -> (status: Int32, output: String)? {
    guard FileManager.default.isExecutableFile(atPath: executable) else { return nil }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return nil }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// A self-signed certificate made by the `openssl` CLI at test time, or nil (with a message) when it is absent.
private func makeCertificate() -> (certificate: String, key: String)? {
    let directory = NSTemporaryDirectory() + "lingserve-tls-\(getpid())"
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let certificate = directory + "/cert.pem", key = directory + "/key.pem"
    guard let result = run("/usr/bin/openssl", [
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
        "-out", certificate, "-days", "1", "-subj", "/CN=localhost",
    ]), result.status == 0 else {
        print("skipping TLS test: the openssl CLI is not available")
        return nil
    }
    return (certificate, key)
}

@Suite(.serialized) struct TLSTests {
    @Test func httpsKeepAliveAndStreaming() throws {
        guard let (certificate, key) = makeCertificate() else { return }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/curl") else {
            print("skipping TLS test: curl is not available")
            return
        }
        let log = ProducerLog()
        try withServer({ $0.tlsCertificatePath = certificate; $0.tlsKeyPath = key }, handler: StreamingHandler(log: log)) { _, port in
            // Two requests in one curl run share the TLS connection; /sse streams 2000 chunked events.
            let base = "https://127.0.0.1:\(port)"
            let result = try #require(run("/usr/bin/curl", ["-sk", "--http1.1", "\(base)/sse?n=2000", "\(base)/sse?n=3"]))
            #expect(result.status == 0)
            let events = result.output.split(separator: "\n\n")
            #expect(events.count == 2001 + 4)
            #expect(events[1999].hasPrefix(#"data: {"index":1999,"#))
            #expect(events.last == "data: [DONE]")
        }
        try withServer({ $0.tlsCertificatePath = certificate; $0.tlsKeyPath = key }, handler: EchoHandler()) { _, port in
            let result = try #require(run("/usr/bin/curl", ["-sk", "--http1.1", "-d", "tls body", "https://127.0.0.1:\(port)/echo"]))
            #expect(result.output == "POST /echo - 8:tls body")
            // A plain-text client on the TLS port gets a closed connection, and the server keeps serving.
            let plain = try TestClient(port: port)
            plain.send(request("GET", "/"))
            _ = try? plain.waitForClose()
            let again = try #require(run("/usr/bin/curl", ["-sk", "https://127.0.0.1:\(port)/again"]))
            #expect(again.output == "GET /again - 0:")
        }
    }

    @Test func missingCertificateIsAClearError() throws {
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.tlsCertificatePath = "/nonexistent/cert.pem"
        configuration.tlsKeyPath = "/nonexistent/key.pem"
        let server = HTTPServer(configuration: configuration, handler: EchoHandler())
        #expect {
            try server.start()
        } throws: { error in
            "\(error)".contains("/nonexistent/cert.pem")
        }
    }
}
