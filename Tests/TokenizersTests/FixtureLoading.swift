import Foundation
import XCTest

@testable import Tokenizers

/// Fixtures live next to this file (also declared as resources); tests locate them through `#filePath`.
enum Fixtures {
    static let directory: String = {
        let file = URL(fileURLWithPath: #filePath)
        return file.deletingLastPathComponent().appendingPathComponent("Fixtures").path
    }()

    static func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    static func data(_ name: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path(name)) else {
            throw TokenizerError("fixture \(name) is missing")
        }
        return data
    }

    static func json(_ name: String) throws -> Any {
        try JSONSerialization.jsonObject(with: try data(name), options: [.fragmentsAllowed])
    }
}
