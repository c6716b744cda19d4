import ArgumentParser

@main
struct LingBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ling-bench",
        abstract: "Load-test an OpenAI-compatible server (LingServe, llama-server, vLLM) like `vllm bench serve`."
    )
}
