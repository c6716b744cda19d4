import JSON

/// `--compare A.json B.json`: two saved runs side by side, with B / A for every shared figure.
public enum ResultComparison {
    static let keys = [
        "completed", "failed", "duration", "total_input_tokens", "total_output_tokens", "request_throughput",
        "request_goodput", "output_throughput", "max_output_tokens_per_s", "max_concurrent_requests",
        "total_token_throughput",
    ]

    public static func render(_ a: JSONValue, _ b: JSONValue, nameA: String, nameB: String) -> String {
        var rows: [(String, String, String, String)] = [("", "A", "B", "B/A")]
        var names = keys
        if case .object(let members) = a {
            for key in members.keys
            where key.hasSuffix("_ms") || key.hasPrefix("spec_decode_") && !key.hasSuffix("rates") {
                names.append(key)
            }
        }
        for key in names {
            guard let x = a[key]?.doubleValue, let y = b[key]?.doubleValue else { continue }
            let ratio = x != 0 ? TextFormat.fixed(y / x, 3) : "-"
            rows.append((key, number(x), number(y), ratio))
        }
        var widths = [0, 0, 0, 0]
        for row in rows {
            widths[0] = max(widths[0], row.0.count)
            widths[1] = max(widths[1], row.1.count)
            widths[2] = max(widths[2], row.2.count)
            widths[3] = max(widths[3], row.3.count)
        }
        let legend = "A = \(nameA)\nB = \(nameB)\n"
        return legend + rows.map { row in
            TextFormat.padRight(row.0, widths[0]) + "  " + TextFormat.padLeft(row.1, widths[1]) + "  "
                + TextFormat.padLeft(row.2, widths[2]) + "  " + TextFormat.padLeft(row.3, widths[3])
        }.joined(separator: "\n")
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : TextFormat.fixed(value)
    }
}
