import CPoll
import Dispatch
import Glibc
import Synchronization

/// Socket readiness for the whole process: one epoll instance and one thread that waits on it, handing each event to
/// the serial queue of the socket it belongs to.
///
/// Why not Dispatch read/write sources: on Linux, libdispatch's epoll backend keeps one shared registration per
/// descriptor number and answers `EPOLLHUP` by deleting every source on it from the manager thread. Under hostile
/// traffic (peers resetting while their connection was being cancelled) that raced with our own cancellation and
/// trapped inside libdispatch ("Source finalized twice", `_dispatch_source_refs_finalize_unregistration`), and
/// earlier it lost the first read event of a connection that reused a just-freed descriptor number. Here the rules
/// are ours and simple:
/// - every registration is `EPOLLONESHOT`: after one event the kernel reports nothing more for the socket until its
///   owner re-arms it from its queue, so an owner never sees two events at once and never spins on a level;
/// - events carry a token, not a pointer: a token is never reused, and an event whose token has been removed (the
///   socket was closed while the event was in flight) is dropped, so a reused descriptor number cannot receive a
///   stale event;
/// - `remove` deletes the kernel registration synchronously, so the owner may close the descriptor right after it.
final class Poller: Sendable {
    /// What an owner wants to hear about. Errors and hang-ups are always reported (epoll cannot mask them).
    struct Interest: OptionSet, Sendable {
        let rawValue: UInt32
        static let read = Interest(rawValue: UInt32(CPOLL_READABLE))
        static let write = Interest(rawValue: UInt32(CPOLL_WRITABLE))
    }

    /// What happened, as epoll reported it.
    struct Events: Sendable {
        let rawValue: UInt32
        var readable: Bool { rawValue & UInt32(CPOLL_READABLE) != 0 }
        var writable: Bool { rawValue & UInt32(CPOLL_WRITABLE) != 0 }
        /// The peer reset the connection or both directions are shut: reads and writes will fail or see EOF.
        var hangUpOrError: Bool { rawValue & UInt32(CPOLL_HANGUP | CPOLL_ERROR) != 0 }
    }

    private final class Registration: Sendable {
        let queue: DispatchQueue
        let handler: @Sendable (Events) -> Void
        init(queue: DispatchQueue, handler: @escaping @Sendable (Events) -> Void) {
            self.queue = queue
            self.handler = handler
        }
    }

    /// The process-wide poller, started on first use; creating it fails only when the kernel refuses an epoll
    /// instance or a thread (descriptor or memory limits).
    static let shared: Result<Poller, HTTPServerError> = Result { () throws(HTTPServerError) in try Poller() }

    private let epollDescriptor: Int32
    private let registrations = Mutex<[UInt64: Registration]>([:])
    private let nextToken = Atomic<UInt64>(1)

    private init() throws(HTTPServerError) {
        let descriptor = cpoll_create()
        guard descriptor >= 0 else {
            throw HTTPServerError("epoll_create1 failed: \(errnoDescription(errno))", errnoCode: errno)
        }
        epollDescriptor = descriptor
        let box = Unmanaged.passRetained(PollerBox(self))
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { argument in
            guard let argument else { return nil }
            let poller = Unmanaged<PollerBox>.fromOpaque(argument).takeRetainedValue().poller
            poller.run()
            return nil
        }, box.toOpaque())
        guard created == 0 else {
            box.release()
            closeDescriptor(descriptor)
            throw HTTPServerError("pthread_create for the poller failed: \(errnoDescription(created))", errnoCode: created)
        }
        pthread_detach(thread)
    }

    /// Registers `fd`, armed for `interest`; `handler` runs on `queue` for each event. Returns the token that
    /// `rearm` and `remove` take.
    func add(
        fd: Int32, interest: Interest, queue: DispatchQueue, handler: @escaping @Sendable (Events) -> Void
    ) throws(HTTPServerError) -> UInt64 {
        let token = nextToken.add(1, ordering: .relaxed).oldValue
        registrations.withLock { $0[token] = Registration(queue: queue, handler: handler) }
        if cpoll_arm(epollDescriptor, fd, interest.rawValue, token, 1) != 0 {
            let code = errno
            _ = registrations.withLock { $0.removeValue(forKey: token) }
            throw HTTPServerError("epoll_ctl(ADD) failed: \(errnoDescription(code))", errnoCode: code)
        }
        return token
    }

    /// Arms a registered descriptor for one more event (call from the owner's queue, after its last event was
    /// handled or to change what it waits for). An empty interest still reports hang-ups and errors.
    func rearm(fd: Int32, token: UInt64, interest: Interest) {
        _ = cpoll_arm(epollDescriptor, fd, interest.rawValue, token, 0)
    }

    /// Deletes the registration; no handler for it is invoked after this returns, except one already queued, which
    /// its owner must ignore (it knows it has closed). The descriptor may be closed right after.
    func remove(fd: Int32, token: UInt64) {
        _ = cpoll_remove(epollDescriptor, fd)
        _ = registrations.withLock { $0.removeValue(forKey: token) }
    }

    private func run() {
        let capacity = 256
        let tokens = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity)  // [capacity], reused
        let events = UnsafeMutablePointer<UInt32>.allocate(capacity: capacity)  // [capacity], reused
        var ready: [(Registration, Events)] = []
        ready.reserveCapacity(capacity)
        while true {
            let count = cpoll_wait(epollDescriptor, tokens, events, Int32(capacity))
            if count < 0 {
                if errno == EINTR { continue }
                // Cannot happen with a valid descriptor and buffer; back off rather than spin if it ever does.
                usleep(10_000)
                continue
            }
            registrations.withLock { table in
                for index in 0..<Int(count) {
                    if let registration = table[tokens[index]] {
                        ready.append((registration, Events(rawValue: events[index])))
                    }
                }
            }
            for (registration, happened) in ready {
                let handler = registration.handler
                registration.queue.async { handler(happened) }
            }
            ready.removeAll(keepingCapacity: true)
        }
    }
}

/// Carries the poller into its thread's entry point.
private final class PollerBox {
    let poller: Poller
    init(_ poller: Poller) { self.poller = poller }
}
