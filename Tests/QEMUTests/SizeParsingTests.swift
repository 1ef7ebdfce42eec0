import QEMU
import Testing

/// `qnet disk create PATH SIZE` and `--memory`: 1024-based units, exact decimals, clear refusals.
struct SizeParsingTests {
    static let diskCases: [(String, UInt64)] = [
        ("512", 512), ("1K", 1024), ("1k", 1024), ("512M", 512 << 20), ("10G", 10 << 30), ("10g", 10 << 30),
        ("2T", 2 << 40), ("1.5G", 1536 << 20), ("0.5K", 512), ("10GiB", 10 << 30), ("10gib", 10 << 30), ("4MiB", 4 << 20),
        ("1.25M", 1_310_720), ("1.50G", 1536 << 20), ("4095M", 4095 << 20), ("7.0T", 7 << 40),
    ]

    @Test(arguments: diskCases)
    func diskSizes(text: String, bytes: UInt64) throws {
        #expect(try DiskSize(parsing: text).bytes == bytes)
    }

    static let badDiskCases: [(String, String)] = [
        ("", "empty"), ("0", "above zero"), ("0G", "above zero"), ("-1G", "negative"), ("-5", "negative"), ("10X", "e.g. 512M"),
        ("G", "e.g. 512M"), ("1.5", "whole number of bytes"), ("1000", "multiple of 512"), ("10GB", "1024-based"), ("1mb", "1024-based"),
        ("0.1K", "whole number of bytes"), ("1e9", "e.g. 512M"), (" 10G", "e.g. 512M"), ("10 G", "e.g. 512M"), ("1.G", "e.g. 512M"),
        (".5G", "e.g. 512M"), ("99999999999999999999", "too large"), ("16777216T", "too large"), ("8388608T", "8 EiB"),
        ("1,5G", "e.g. 512M"), ("１G", "e.g. 512M"),
    ]

    @Test(arguments: badDiskCases)
    func badDiskSizes(text: String, hint: String) {
        do {
            let size = try DiskSize(parsing: text)
            Issue.record("'\(text)' parsed as \(size.bytes)")
        } catch let error as QEMUError {
            let message = error.description
            #expect(message.hasPrefix("invalid disk size '\(text)': "), "\(message)")
            #expect(message.contains(hint), "\(message)")
            #expect(!message.contains("\n"))
            #expect(error.isUsageError)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    static let memoryCases: [(String, Int)] = [
        ("1024", 1024), ("1", 1), ("512M", 512), ("1G", 1024), ("1.5G", 1536), ("2g", 2048), ("1GiB", 1024), ("2048K", 2), ("1T", 1 << 20),
    ]

    @Test(arguments: memoryCases)
    func memorySizes(text: String, mebibytes: Int) throws {
        #expect(try MemorySize(parsing: text).mebibytes == mebibytes)
    }

    @Test(arguments: ["0", "0M", "-1", "-512M", "1.5", "512K", "abc", "1GB", "", "17T", "99999999999999999999"])
    func badMemorySizes(text: String) {
        let error = #expect(throws: QEMUError.self) { try MemorySize(parsing: text) }
        #expect(error?.description.hasPrefix("invalid memory size '\(text)': ") == true)
    }

    @Test func memoryMessagesNameTheValue() {
        do {
            _ = try MemorySize(parsing: "512K")
        } catch {
            #expect("\(error)" == "invalid memory size '512K': use a whole number of MiB (QEMU's -m unit), e.g. 512M")
        }
    }

    @Test func descriptionsReadBack() throws {
        for text in ["10G", "1536M", "512", "3T", "4K"] {
            let size = try DiskSize(parsing: text)
            #expect(size.description == text)
            #expect(try DiskSize(parsing: size.description) == size)
        }
        #expect(try MemorySize(parsing: "1.5G").description == "1536M")
        #expect(try DiskSize(parsing: "1.5G").humanReadable == "1.5 GiB")
        #expect(try DiskSize(parsing: "10G").humanReadable == "10 GiB")
        #expect(DiskSize.human(0) == "0 B")
        #expect(DiskSize.human(UInt64(Int64.max)) == "8388608 TiB")
    }
}
