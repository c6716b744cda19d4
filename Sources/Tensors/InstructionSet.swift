private import CKernels

/// The SIMD instruction set the kernels run with, chosen once from CPUID (AVX-512, AVX2+FMA, or portable C).
public enum InstructionSet: Int, Sendable, CaseIterable, CustomStringConvertible {
    case portable = 0
    case avx2 = 1
    case avx512 = 2

    /// The best set this CPU supports.
    public static var detected: InstructionSet { InstructionSet(rawValue: Int(lk_detect_isa().rawValue)) ?? .portable }

    /// The set the kernels use now.
    public static var active: InstructionSet { InstructionSet(rawValue: Int(lk_active_isa().rawValue)) ?? .portable }

    /// Forces a set (clamped to what the CPU has) and returns the one in effect. For tests and benchmarks.
    @discardableResult
    public static func force(_ isa: InstructionSet) -> InstructionSet {
        InstructionSet(rawValue: Int(lk_force_isa(lk_isa(rawValue: UInt32(isa.rawValue))).rawValue)) ?? .portable
    }

    public var description: String {
        switch self {
        case .portable: "portable"
        case .avx2: "avx2"
        case .avx512: "avx512"
        }
    }
}
