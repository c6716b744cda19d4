import XCTest

@testable import BenchClient

final class ArrivalScheduleTests: XCTestCase {
    /// Gaps of a gamma(k, 1/(rate·k)) process: mean 1/rate, squared coefficient of variation 1/k.
    func checkDispersion(burstiness: Double) {
        var generator = SeededGenerator(seed: 7)
        let count = 40_000
        let rate = 20.0
        let offsets = ArrivalSchedule.offsets(count: count, requestRate: rate, burstiness: burstiness, generator: &generator)
        XCTAssertEqual(offsets.count, count)
        XCTAssertEqual(offsets[count - 1], Double(count) / rate, accuracy: 1e-6, "rescaled to N / rate")
        var gaps = [offsets[0]]
        for i in 1..<count { gaps.append(offsets[i] - offsets[i - 1]) }
        XCTAssertTrue(gaps.allSatisfy { $0 >= 0 })
        let mean = Statistics.mean(gaps)
        XCTAssertEqual(mean, 1 / rate, accuracy: 1e-9)
        let variance = Statistics.standardDeviation(gaps) * Statistics.standardDeviation(gaps)
        let squaredCV = variance / (mean * mean)
        XCTAssertEqual(squaredCV, 1 / burstiness, accuracy: 0.08 / burstiness, "burstiness \(burstiness)")
    }

    func testPoisson() { checkDispersion(burstiness: 1) }
    func testBursty() { checkDispersion(burstiness: 0.5) }
    func testRegular() { checkDispersion(burstiness: 4) }

    func testGammaMeanEqualsShape() {
        var generator = SeededGenerator(seed: 3)
        for shape in [0.5, 1.0, 4.0] {
            let samples = (0..<50_000).map { _ in generator.nextGamma(shape: shape) }
            XCTAssertEqual(Statistics.mean(samples), shape, accuracy: 0.03 * shape)
        }
    }

    func testDeterministicWithSeed() {
        var g1 = SeededGenerator(seed: 11)
        var g2 = SeededGenerator(seed: 11)
        var g3 = SeededGenerator(seed: 12)
        let a = ArrivalSchedule.offsets(count: 100, requestRate: 5, burstiness: 1, generator: &g1)
        let b = ArrivalSchedule.offsets(count: 100, requestRate: 5, burstiness: 1, generator: &g2)
        let c = ArrivalSchedule.offsets(count: 100, requestRate: 5, burstiness: 1, generator: &g3)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
    }

    func testInfiniteRateAndConstantGaps() {
        var generator = SeededGenerator(seed: 1)
        XCTAssertEqual(ArrivalSchedule.offsets(count: 3, requestRate: .infinity, burstiness: 1, generator: &generator), [0, 0, 0])
        let constant = ArrivalSchedule.offsets(count: 4, requestRate: 2, burstiness: .infinity, generator: &generator)
        for (i, value) in constant.enumerated() { XCTAssertEqual(value, Double(i + 1) / 2, accuracy: 1e-12) }
    }
}
