import JSON

extension JSONParser.Limits {
    /// For the files BenchClient reads that Python wrote (result files, datasets): `NaN` and `Infinity` as
    /// `json.dump` writes them, and deeper nesting than request bodies get.
    public static let pythonFiles = JSONParser.Limits(maxDepth: 512, allowsNonFiniteNumbers: true)
}
