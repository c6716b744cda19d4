// swift-tools-version:6.0
// LingServe: an OpenAI-compatible inference server for Ling 2.0 (BailingMoeV2ForCausalLM) models on CPUs.
//
// Dependency direction (arrow = may import; nothing points back up):
//   ling-serve -> APIServer -> {Engine, Grammar, Tokenizers, ChatTemplates, HTTP, OpenAIAPI};  Grammar -> {TokenConstraints, JSON}
//   Engine -> {Models, KVCache, Tensors, TokenConstraints};  Models -> {KVCache, Tensors, JSON, Tokenizers};  KVCache -> Tensors -> {CKernels, CBLAS}
//   ling-bench -> BenchClient -> {CCurl, OpenAIAPI, JSON};  ling-serve -> {HubClient -> {CCurlShim, COpenSSL, JSON}, ProgressDisplay}
//   Tokenizers -> JSON;  OpenAIAPI -> JSON;  ChatTemplates -> JSON;  JSON and TokenConstraints import nothing
// Tokenizers, ChatTemplates, HTTP and OpenAIAPI know nothing of the engine; the engine speaks token ids only.
import PackageDescription

let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")

let package = Package(
    name: "LingServe",
    products: [
        .executable(name: "ling-serve", targets: ["ling-serve"]),
        .executable(name: "ling-bench", targets: ["ling-bench"]),
    ],
    dependencies: [
        // Command-line parsing for the two executables (subcommands, --help, validation). Nothing else is pulled in.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // ---- C libraries and kernels
        .systemLibrary(name: "CBLAS", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CCurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "COpenSSL", providers: [.apt(["libssl-dev"])]),
        .target(name: "CCurlShim", dependencies: ["CCurl"], linkerSettings: [.linkedLibrary("curl")]),  // non-variadic wrappers over curl_easy_setopt/multi
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])]),

        // ---- engine side
        .target(name: "Tensors", dependencies: ["CKernels", "CBLAS"]),
        .target(name: "KVCache", dependencies: ["Tensors"]),
        .target(name: "Models", dependencies: ["Tensors", "KVCache", "JSON", "Tokenizers"]),  // Tokenizers: the byte alphabet of random tokenizers
        .target(name: "TokenConstraints"),  // `DecodingConstraint` and `TokenMask`: what Engine and Grammar share
        .target(name: "Engine", dependencies: ["Models", "KVCache", "Tensors", "TokenConstraints"]),

        // ---- text side (no engine imports)
        .target(name: "JSON"),  // order-preserving JSON values, parser with limits, Python-compatible dumps
        .target(name: "Tokenizers", dependencies: ["JSON"]),
        .target(name: "ChatTemplates", dependencies: ["JSON"]),

        // ---- network side (no engine imports)
        .target(name: "CPoll"),  // epoll wrappers (Glibc's Swift module has no <sys/epoll.h>)
        .target(name: "HTTP", dependencies: ["COpenSSL", "CPoll"]),
        .target(name: "OpenAIAPI", dependencies: ["JSON"]),
        .target(name: "Grammar", dependencies: ["TokenConstraints", "JSON"]),  // constrained decoding: JSON schema / tool-call grammars over token bytes
        .target(name: "APIServer", dependencies: ["Engine", "TokenConstraints", "Grammar", "Tokenizers", "ChatTemplates", "HTTP", "OpenAIAPI", "JSON"]),
        .target(name: "BenchClient", dependencies: ["CCurl", "CCurlShim", "OpenAIAPI", "JSON"]),
        // Hugging Face Hub downloads into the standard cache (libcurl; digests from OpenSSL). No engine imports.
        .target(name: "HubClient", dependencies: ["CCurlShim", "COpenSSL", "JSON"]),
        // One progress line for long operations (model loading, downloads): a bar on a terminal, plain lines otherwise.
        .target(name: "ProgressDisplay"),

        // ---- executables: argument parsing and wiring only
        .executableTarget(
            name: "ling-serve",
            dependencies: ["APIServer", "Engine", "Models", "KVCache", "HTTP", "OpenAIAPI", "Tokenizers", "ChatTemplates", "JSON", "Tensors", "HubClient", "ProgressDisplay", argumentParser]
        ),
        .executableTarget(name: "ling-bench", dependencies: ["BenchClient", "JSON", argumentParser]),
        .executableTarget(name: "fake-openai-server", dependencies: ["BenchClient", "JSON"]),  // test fixture: streams canned chunks as fast as it can

        // ---- tests: one target per module
        .testTarget(name: "EngineTests", dependencies: ["Engine", "KVCache", "Models", "Tensors"]),
        .testTarget(name: "KVCacheTests", dependencies: ["KVCache"]),
        .testTarget(name: "JSONTests", dependencies: ["JSON"], exclude: ["Fixtures"]),
        .testTarget(name: "ChatTemplatesTests", dependencies: ["ChatTemplates", "JSON"], exclude: ["Fixtures"]),
        .testTarget(name: "OpenAIAPITests", dependencies: ["OpenAIAPI", "JSON", "TestSupport"]),
        .testTarget(name: "APIServerTests", dependencies: ["APIServer", "OpenAIAPI", "JSON", "HTTP", "SocketTestSupport"]),
        .testTarget(name: "GrammarTests", dependencies: ["Grammar", "TokenConstraints", "JSON", "TestSupport"]),
        .testTarget(name: "BenchClientTests", dependencies: ["BenchClient", "JSON", "fake-openai-server"]),
        .testTarget(name: "HubClientTests", dependencies: ["HubClient"]),
        .testTarget(name: "ProgressDisplayTests", dependencies: ["ProgressDisplay"]),
        .executableTarget(name: "http-echo", dependencies: ["HTTP"]),  // wrk target for the HTTP layer alone
        // Blocking socket client for the HTTP and API server tests (test targets cannot share source files).
        .target(name: "SocketTestSupport", dependencies: ["HTTP"], path: "Tests/SocketTestSupport"),
        .target(name: "TestSupport", dependencies: ["JSON"], path: "Tests/TestSupport"),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "OpenAIAPI", "SocketTestSupport"]),  // OpenAIAPI: the error body the server tests expect
        .executableTarget(name: "kernel-bench", dependencies: ["Tensors", "CKernels"]),  // kernel speed vs machine limits
        .testTarget(name: "TensorsTests", dependencies: ["Tensors", "CKernels"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "KVCache", "Tensors", "JSON", "Tokenizers", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers", "JSON", "TestSupport"], resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v6]
)
