import ArgumentParser

@main
struct LingServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ling-serve",
        abstract: "An OpenAI-compatible inference server for Ling 2.0 (BailingMoeV2) models on CPUs.",
        subcommands: [
            RenderChatCommand.self,
            GenerateCommand.self,
            LogitsCommand.self,
            MakeModelCommand.self,
            BenchCommand.self,
            // Each helper adds its subcommands here, one per line.
            TokenizeCommand.self,
            DetokenizeCommand.self,
            TokenizerBenchCommand.self,
        ]
    )
}
