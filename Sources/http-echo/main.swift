// http-echo: the HTTP layer alone, for load tests (wrk) and manual checks.
//   http-echo [port] [host]        (default 8080 127.0.0.1)
// Routes: GET /health -> {"status":"ok"}; GET /sse?n=N -> N SSE events then [DONE]; anything else echoes
// method, path and body size. SIGINT/SIGTERM drain for up to 10 s.
import Dispatch
import Glibc
import HTTP

struct EchoHandler: HTTPHandler {
    func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        switch request.path {
        case "/health":
            responder.respond(status: 200, headers: ["Content-Type": "application/json"], body: #"{"status":"ok"}"#)
        case "/sse":
            let count = request.query.flatMap { query in
                query.split(separator: "&").first { $0.hasPrefix("n=") }.flatMap { Int($0.dropFirst(2)) }
            } ?? 100
            responder.startStream(headers: .eventStream)
            DispatchQueue.global().async {
                for index in 0..<count {
                    if !responder.writeEvent(#"{"index":\#(index),"delta":{"content":"token"}}"#) {
                        if !responder.waitUntilWritable() { return }
                    }
                }
                responder.writeEvent("[DONE]")
                responder.finish()
            }
        default:
            responder.respond(
                status: 200, headers: ["Content-Type": "text/plain"],
                body: "\(request.method) \(request.path) \(request.body.count) bytes\n")
        }
    }
}

let arguments = CommandLine.arguments
var configuration = HTTPServerConfiguration(
    host: arguments.count > 2 ? arguments[2] : "127.0.0.1", port: arguments.count > 1 ? Int(arguments[1]) ?? 8080 : 8080)
configuration.tlsCertificatePath = getenv("HTTP_ECHO_TLS_CERT").map { String(cString: $0) }
configuration.tlsKeyPath = getenv("HTTP_ECHO_TLS_KEY").map { String(cString: $0) }
let server = HTTPServer(configuration: configuration, handler: EchoHandler())
do {
    try server.start()
} catch {
    print("http-echo: \(error)")
    exit(1)
}
print("http-echo listening on \(configuration.host):\(server.localPort ?? 0)")

signal(SIGINT, SIG_IGN)
signal(SIGTERM, SIG_IGN)
let signalQueue = DispatchQueue(label: "signals")
let signalSources = [SIGINT, SIGTERM].map { number in
    let source = DispatchSource.makeSignalSource(signal: number, queue: signalQueue)
    source.setEventHandler {
        print("http-echo: draining")
        server.shutdown(deadline: .now() + .seconds(10))
        exit(0)
    }
    source.activate()
    return source
}
dispatchMain()
