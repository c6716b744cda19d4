import Synchronization
import Testing
@testable import ProgressDisplay

@Suite struct ProgressReporterTests {
    @Test func lineShowsBytesRateAndETA() {
        let line = ProgressReporter.line(label: "downloading a/b", unit: .bytes, done: 1 << 30, total: 4 << 30, elapsed: 10, bar: true)
        #expect(line == "downloading a/b  [######..................]   25%  1.00 GiB / 4.00 GiB  102.4 MiB/s  ETA 0:30")
        let plain = ProgressReporter.line(label: "x", unit: .files, done: 3, total: 7, elapsed: 1, bar: false)
        #expect(plain == "x   42%  3/7 files")
        // Resumed: 3 GiB were on disk before; 1 GiB in 10 s is the rate, the remaining 1 GiB takes 10 s.
        let resumed = ProgressReporter.line(label: "d", unit: .bytes, done: 4 << 30, total: 5 << 30, elapsed: 10, bar: false, since: 3 << 30)
        #expect(resumed == "d   80%  4.00 GiB / 5.00 GiB  102.4 MiB/s  ETA 0:10")
        #expect(ProgressReporter.formatDuration(3725) == "1:02:05")
        #expect(ProgressReporter.formatDuration(.infinity) == "--:--")
    }

    @Test func plainOutputIsThrottledByTheClock() {
        let now = Mutex(0.0)
        let lines = Mutex<[String]>([])
        let reporter = ProgressReporter(label: "t", unit: .bytes, isTerminal: false, plainInterval: 5,
                                        clock: { now.withLock { $0 } }, output: { text in lines.withLock { $0.append(text) } })
        reporter.update(done: 1, total: 100)  // first update draws
        now.withLock { $0 = 1 }
        reporter.update(done: 2, total: 100)  // within 5 s: silent
        now.withLock { $0 = 6 }
        reporter.update(done: 50, total: 100)
        reporter.finish()
        reporter.update(done: 60, total: 100)  // after finish: silent
        let output = lines.withLock { $0 }
        #expect(output.count == 3)
        #expect(output.allSatisfy { $0.hasSuffix("\n") && !$0.contains("\r") })
        #expect(output[1].contains(" 50%"))
    }

    @Test func terminalOutputRedrawsInPlace() {
        let lines = Mutex<[String]>([])
        let reporter = ProgressReporter(label: "t", unit: .files, isTerminal: true, clock: { 0 },
                                        output: { text in lines.withLock { $0.append(text) } })
        reporter.update(done: 1, total: 2)
        reporter.finish("done")
        let output = lines.withLock { $0 }
        #expect(output.first?.hasPrefix("\r") == true && output.first?.hasSuffix("\n") == false)
        #expect(output.last == "\r\u{1B}[Kdone\n")
    }
}
