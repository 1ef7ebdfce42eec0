import QNetSystem

/// Host changes an interrupted qnet command left half-done: journals in qnet's journal
/// directory whose writer no longer runs (see `HostTransaction`).
enum JournalChecks {
    /// `ls /run/qnet/journal`, each journal read and its owner checked (pid + start time).
    /// fail: a journal waits for recovery (the host may lack an address or a route until
    /// then); warn: a journal cannot be read; ok: none, or only ones whose command still runs.
    static func pending(directory: String) -> CheckResult {
        let title = "Interrupted host changes"
        let listing: (entries: [JournalEntry], unreadable: [JournalError])
        do {
            listing = try Journal(directory: directory).entries()
        } catch {
            return CheckResult(id: "journal.pending", status: .warn, title: title, found: "cannot read \(directory): \(error)",
                               remedy: "run `sudo qnet doctor` (the journal directory is root's, mode 0700)")
        }
        let abandoned = listing.entries.filter { !$0.header.owner.isRunning }
        let running = listing.entries.filter { $0.header.owner.isRunning }
        if !abandoned.isEmpty {
            let found = abandoned.map { entry in
                "an interrupted `\(entry.header.command)` (pid \(entry.header.owner.pid)) left a journal \(directory)/\(entry.fileName) "
                    + (entry.pastPointOfNoReturn ? "to finish" : "to roll back")
            }.joined(separator: "; ")
            return CheckResult(id: "journal.pending", status: .fail, title: title, found: found,
                               remedy: "sudo qnet recover   (with --netns NAME for a change made in that namespace; any qnet command "
                                   + "that changes the namespace also recovers it first)")
        }
        if !listing.unreadable.isEmpty {
            return CheckResult(id: "journal.pending", status: .warn, title: title,
                               found: listing.unreadable.map(\.description).joined(separator: "; "),
                               remedy: "look at the file; remove it once the host is as it should be")
        }
        let found = running.isEmpty ? "none" : "in progress: " + running.map { "`\($0.header.command)` (pid \($0.header.owner.pid))" }
            .joined(separator: ", ")
        return CheckResult(id: "journal.pending", status: .ok, title: title, found: found)
    }
}
