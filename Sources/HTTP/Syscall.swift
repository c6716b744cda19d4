import Glibc

/// The result of a non-blocking system call: a value, or "try again when the descriptor is ready".
enum IOResult<Value> {
    case processed(Value)
    case wouldBlock
}

/// One door for every system call of the HTTP module (after swift-nio's `syscall(blocking:where:_:)`):
/// retries on `EINTR`, maps `EAGAIN`/`EWOULDBLOCK` to `.wouldBlock`, and throws `HTTPServerError` with the call's
/// name and `errno` for everything else. Errnos that can only mean a bug in this module (`EBADF`, `EFAULT`,
/// `ENOTSOCK`) trap, since continuing would act on somebody else's descriptor.
@inline(__always)
func syscall<T: FixedWidthInteger>(
    _ name: StaticString, _ body: () -> T
) throws(HTTPServerError) -> IOResult<T> {
    while true {
        let result = body()
        if result >= 0 { return .processed(result) }
        let code = errno
        switch code {
        case EINTR: continue
        case EAGAIN, EWOULDBLOCK: return .wouldBlock
        default:
            precondition(code != EBADF && code != EFAULT && code != ENOTSOCK, "\(name) failed with a bug errno \(code)")
            throw HTTPServerError("\(name) failed: \(errnoDescription(code))", errnoCode: code)
        }
    }
}

/// `strerror` text for an errno value, e.g. "Connection reset by peer (errno 104)".
func errnoDescription(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "errno \(code)" }
    return "\(String(cString: text)) (errno \(code))"
}

/// Closes a descriptor exactly once; `EINTR` on close must not be retried on Linux (the descriptor is gone).
func closeDescriptor(_ fd: Int32) {
    _ = Glibc.close(fd)
}

/// Sets an integer socket option; failures are reported with the option name.
func setSocketOption(_ fd: Int32, _ level: Int32, _ option: Int32, _ value: Int32, _ name: StaticString)
    throws(HTTPServerError)
{
    var value = value
    let result = setsockopt(fd, level, option, &value, socklen_t(MemoryLayout<Int32>.size))
    if result != 0 {
        throw HTTPServerError("setsockopt(\(name)) failed: \(errnoDescription(errno))", errnoCode: errno)
    }
}
