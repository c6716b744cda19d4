#if canImport(Glibc)
import Glibc
#endif

/// Python-style formatting helpers for the console block (`"{:<40} {:<10.2f}"`).
public enum TextFormat {
    /// `value` with exactly `digits` decimals (round half away from zero on the decimal value).
    public static func fixed(_ value: Double, _ digits: Int = 2) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value > 0 ? "inf" : "-inf" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        guard abs(value) * scale < 9.0e18 else { return String(value) }
        let scaled = Int64((abs(value) * scale).rounded())
        let sign = value < 0 && scaled != 0 ? "-" : ""
        let whole = scaled / Int64(scale)
        guard digits > 0 else { return sign + String(whole) }
        var fraction = String(scaled % Int64(scale))
        while fraction.count < digits { fraction = "0" + fraction }
        return sign + String(whole) + "." + fraction
    }

    public static func padRight(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    public static func padLeft(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }

    /// One `"{:<40} {:<10}"` line.
    public static func row(_ label: String, _ value: String) -> String { padRight(label, 40) + " " + padRight(value, 10) }

    /// `"{s:{c}^{n}}"`: `title` centred in `width` fill characters (Python puts the odd one on the right).
    public static func centered(_ title: String, fill: Character, width: Int = 50) -> String {
        let total = max(0, width - title.count)
        let left = total / 2
        return String(repeating: fill, count: left) + title + String(repeating: fill, count: total - left)
    }

    /// Python's `str(float)` for the figures that go into file names and headers (`inf`, `10.0`, `2.5`).
    public static func pythonFloat(_ value: Double) -> String {
        if value.isInfinite { return value > 0 ? "inf" : "-inf" }
        if value == value.rounded() && abs(value) < 1e16 { return String(Int64(value)) + ".0" }
        return "\(value)"
    }

    /// Local wall-clock time as `YYYYMMDD-HHMMSS` (vLLM's result `date`).
    public static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%Y%m%d-%H%M%S", &parts)
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
