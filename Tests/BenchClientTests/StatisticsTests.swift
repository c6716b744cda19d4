import XCTest

@testable import BenchClient

/// Expected values computed offline with numpy 2.4 (`np.percentile`, `np.mean`, `np.std`).
final class StatisticsTests: XCTestCase {
    let sample = [0.012, 0.5, 0.031, 0.2, 0.0071, 0.9, 0.45]

    func testPercentilesMatchNumpyLinearInterpolation() {
        let expected: [(Double, Double)] = [
            (0, 0.0071), (25, 0.0215), (50, 0.2), (90, 0.6600000000000001), (95, 0.7799999999999997),
            (99, 0.8759999999999998), (99.9, 0.8976000000000003), (100, 0.9),
        ]
        for (p, value) in expected {
            XCTAssertEqual(Statistics.percentile(sample, p), value, accuracy: 1e-12, "p\(p)")
        }
        XCTAssertEqual(Statistics.percentile([3, 1, 2, 10], 90), 7.900000000000001, accuracy: 1e-12)
        XCTAssertEqual(Statistics.percentile([3, 1, 2, 10], 99), 9.79, accuracy: 1e-12)
    }

    func testMeanAndPopulationStd() {
        XCTAssertEqual(Statistics.mean(sample), 0.30001428571428573, accuracy: 1e-15)
        XCTAssertEqual(Statistics.standardDeviation(sample), 0.31020624672982344, accuracy: 1e-12)
        XCTAssertEqual(Statistics.standardDeviation([3, 1, 2, 10]), 3.5355339059327378, accuracy: 1e-12)
    }

    func testEmptyListsBehaveLikeNumpyOnZero() {
        let summary = MetricSummary(secondsValues: [], percentiles: [99])
        XCTAssertEqual(summary.mean, 0)
        XCTAssertEqual(summary.percentiles[0].1, 0)
    }

    func testPercentileWords() {
        XCTAssertEqual(MetricSummary.percentileWord(99), "99")
        XCTAssertEqual(MetricSummary.percentileWord(99.9), "99.9")
    }

    func testFixedFormatting() {
        XCTAssertEqual(TextFormat.fixed(3.14159), "3.14")
        XCTAssertEqual(TextFormat.fixed(0.005), "0.01")
        XCTAssertEqual(TextFormat.fixed(-2.5, 1), "-2.5")
        XCTAssertEqual(TextFormat.fixed(12), "12.00")
        XCTAssertEqual(TextFormat.centered(" Serving Benchmark Result ", fill: "="),
                       "============ Serving Benchmark Result ============")
        XCTAssertEqual(TextFormat.centered("Time per Output Token (excl. 1st token)", fill: "-"),
                       "-----Time per Output Token (excl. 1st token)------")
    }
}
