import Glibc

extension DirectoryDescriptor {
    /// The names in the directory, without "." and "..", unsorted (`ls -A`). Reads through
    /// a duplicate of the descriptor, so this value's own offset is untouched.
    public func names() throws -> [String] {
        let copy = dup(fd)
        guard copy >= 0 else { throw SystemError.lastError("dup", path: path) }
        guard let stream = fdopendir(copy) else {
            let failure = SystemError.lastError("list", path: path)
            close(copy)
            throw failure
        }
        defer { closedir(stream) }
        rewinddir(stream)
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
