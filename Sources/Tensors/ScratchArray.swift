/// A growable, 64-byte aligned scratch array owned by one forward pass. `reserve` reallocates only when a pass needs
/// more room than any before it, so steady-state steps never allocate. Contents are undefined after growth.
public final class ScratchArray<Element: BitwiseCopyable>: @unchecked Sendable {
    public private(set) var capacity = 0
    public private(set) var pointer: UnsafeMutablePointer<Element>

    public init(capacity: Int = 0) {
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(capacity, 1) * MemoryLayout<Element>.stride, alignment: 64)
            .bindMemory(to: Element.self, capacity: max(capacity, 1))
        self.capacity = capacity
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }

    public func reserve(_ count: Int) {
        guard count > capacity else { return }
        UnsafeMutableRawPointer(pointer).deallocate()
        let newCapacity = max(count, capacity * 3 / 2)
        pointer = UnsafeMutableRawPointer.allocate(byteCount: newCapacity * MemoryLayout<Element>.stride, alignment: 64)
            .bindMemory(to: Element.self, capacity: newCapacity)
        capacity = newCapacity
    }
}
