import ArgumentParser
import Glibc
import PCIDevices
import QNetSystem
import VirtualMachines

/// `qnet recover`: finish or undo what an interrupted qnet command left half-done.
struct Recover: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recover",
        abstract: "Roll back (or finish) host changes an interrupted qnet command left half-done.",
        discussion: """
            Every qnet command that changes the host journals what it does before doing it (under /run/qnet/journal). \
            If it is killed, loses its terminal or is interrupted part-way, the next qnet command that changes the \
            same network namespace puts things right first and says so in one line; `qnet recover` does only that, \
            for the namespace's links and networks, qnet's anti-spoofing rules there (table bridge qnet-filter) \
            and PCI binds. \
            A change is rolled back, or finished when it was past the point where it can be undone (a deleted \
            bridge). `qnet doctor` reports a journal waiting to be recovered.

            Exit status: 0 when nothing was left or all of it was put right, 1 when something could not be \
            (the journal is kept, and the next run retries).
            """)

    @OptionGroup var global: GlobalOptions

    func run() throws {
        // PCI binds and VF counts belong to no namespace: their journals (scope `pci`) are
        // recovered under the host-wide pci lock, taken (and let go) before the namespace's.
        var reports: [RecoveryReport] = []
        if let directory = global.stateDirectory { setenv("QNET_STATE_DIR", directory, 1) }
        if try !Recovery.journal.abandoned(scope: PCIChange.scope.key).isEmpty {
            let pci = try PCIAccess.begin(global, recovering: false, readingHostUse: false)
            reports += try pci.recoverAbandoned(print: false)
            pci.lock.release()
        }
        // Taking the namespace's lock recovers its journals (one stderr line each).
        let change = try HostChange.begin(global, recovering: false)
        reports += try change.recoverAbandoned(print: false)
        // The anti-spoofing rules (qnet's bridge table) have a lock and journal scope of
        // their own per namespace, taken (a leaf) under the namespace's.
        reports += try VMPortFilters.recoverAbandoned(host: change.host)
        for report in reports { print(report) }
        // Journals this namespace's lock does not cover: another namespace, or one whose
        // owner still runs.
        let others = try Recovery.journal.entries().entries.filter {
            ($0.header.scope != change.lock.scope.key && $0.header.scope != PCIChange.scope.key) || $0.header.owner.isRunning
        }
        for entry in others {
            let owner = entry.header.owner
            if owner.isRunning {
                print("in progress: `\(entry.header.command)` (pid \(owner.pid))")
            } else {
                print("pending in another network namespace (\(entry.header.namespace.map(\.description) ?? entry.header.scope)): "
                      + "`\(entry.header.command)` (pid \(owner.pid)); run `qnet --netns NAME recover` there")
            }
        }
        if reports.isEmpty && others.isEmpty { print("nothing to recover") }
    }
}
