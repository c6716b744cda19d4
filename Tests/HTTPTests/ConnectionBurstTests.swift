import Dispatch
import Foundation
import Glibc
import Synchronization
import SocketTestSupport
import Testing

/// Regression for a lost read wake-up. With a connection's read and write Dispatch sources on one descriptor,
/// libdispatch's epoll backend now and then never delivered the read event of a fresh connection whose descriptor
/// number had just been freed by a closing one, so the request sat unread until the header timeout (about 1 in
/// 3,000 connections under bursts, seen as 408s in `ling-bench` runs). The fix gives the write source its own
/// `dup` of the descriptor.
///
/// The race needs the server in its own process (in-process clients change the timing enough to hide it), so this
/// test runs the real `http-echo` binary built next to the test bundle.
@Suite(.serialized) struct ConnectionBurstTests {
    @Test func burstsOfFreshConnectionsAreAllServed() throws {
        guard let binary = siblingExecutable("http-echo") else {
            Issue.record("http-echo not found next to \(CommandLine.arguments[0]); build all products first")
            return
        }
        let port = try freePort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: binary)
        server.arguments = [String(port), "127.0.0.1"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        try waitUntilListening(port: port)

        // 1,000 rounds of 16 clients on their own threads (serial queues target the overcommitting root queue):
        // each round's accepts race with the closes of the previous round's connections.
        let failures = Mutex<[String]>([])
        let clientQueues = (0..<16).map { DispatchQueue(label: "burst-client-\($0)") }
        for round in 0..<1000 {
            let group = DispatchGroup()
            for (worker, queue) in clientQueues.enumerated() {
                queue.async(group: group) {
                    do {
                        let client = try TestClient(port: port, receiveTimeout: 8)
                        let path = "/b\(worker)-\(round)"
                        client.send(request("POST", path, body: "hello", extra: "Connection: close\r\n"))
                        let response = try client.readResponse()
                        if response.status != 200 || response.text != "POST \(path) 5 bytes\n" {
                            failures.withLock { $0.append("status \(response.status): \(response.text)") }
                        }
                    } catch {
                        failures.withLock { $0.append("\(error)") }
                    }
                }
            }
            group.wait()
            if failures.withLock({ !$0.isEmpty }) { break }  // one lost wake-up costs a receive timeout; stop there
        }
        let seen = failures.withLock { $0 }
        #expect(seen.isEmpty, "\(seen.count) connections failed, first: \(seen.prefix(3))")
    }
}

/// An executable built into the same products folder as the test bundle.
func siblingExecutable(_ name: String) -> String? {
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<3 {
        let candidate = directory.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    return nil
}

/// A TCP port that was free a moment ago (bound to port 0, read back, released).
private func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestClientError("socket failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            Glibc.bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard bound else { throw TestClientError("bind failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

private func waitUntilListening(port: Int) throws {
    for _ in 0..<200 {
        if (try? TestClient(port: port, receiveTimeout: 1)) != nil { return }
        usleep(20_000)
    }
    throw TestClientError("http-echo did not start listening on port \(port)")
}
