import ArgumentParser

@main
struct LingServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ling-serve",
        abstract: "An OpenAI-compatible inference server for Ling 2.0 (BailingMoeV2) models on CPUs.",
        subcommands: [
            ServeCommand.self,
            DownloadCommand.self,
            RenderChatCommand.self,
            GenerateCommand.self,
            LogitsCommand.self,
            MakeModelCommand.self,
            QuantizeCommand.self,
            DequantizeCommand.self,
            BenchCommand.self,
            ExpertStatsCommand.self,
            TokenizeCommand.self,
            DetokenizeCommand.self,
            TokenizerBenchCommand.self,
            SamplerBenchCommand.self,
        ]
    )
}
