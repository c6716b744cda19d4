// TEMPORARY local stand-in (not committed): the kernels helper owns this file.
import Foundation
public enum MachineLimits {
    public static func memoryReadBandwidth(threadCount: Int) -> Double { 45e9 }
    public static func sgemmFlops(threadCount: Int) -> Double { 440e9 }
}
