internal import CKernels
import Foundation

/// The CPUs this process may run on, and one CPU per physical core (SMT siblings share a core's caches and FP units,
/// so one compute worker per physical core is the useful maximum for GEMM-bound work).
public enum CPUTopology {
    /// CPUs in this process's affinity mask, ascending (all online CPUs when the mask cannot be read).
    public static func allowedCPUs() -> [Int] {
        var buffer = [Int32](repeating: 0, count: 1024)
        let count = buffer.withUnsafeMutableBufferPointer { lk_allowed_cpus($0.baseAddress, Int32($0.count)) }
        if count > 0 { return buffer.prefix(Int(min(count, 1024))).map { Int($0) } }
        return Array(0..<max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
    }

    /// The first allowed CPU of every physical core (package id, core id from sysfs), in CPU order. Falls back to
    /// every allowed CPU when the topology files are missing.
    public static func physicalCoreCPUs() -> [Int] {
        var seen = Set<String>()
        var result: [Int] = []
        for cpu in allowedCPUs() {
            let base = "/sys/devices/system/cpu/cpu\(cpu)/topology/"
            guard let core = try? String(contentsOfFile: base + "core_id", encoding: .utf8),
                  let package = try? String(contentsOfFile: base + "physical_package_id", encoding: .utf8) else {
                return allowedCPUs()
            }
            let key = package.trimmingCharacters(in: .whitespacesAndNewlines) + "/" + core.trimmingCharacters(in: .whitespacesAndNewlines)
            if seen.insert(key).inserted { result.append(cpu) }
        }
        return result.isEmpty ? allowedCPUs() : result
    }
}
